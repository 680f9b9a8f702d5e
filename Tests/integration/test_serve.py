"""`flux serve` with no configuration at all, as a newcomer runs it."""
import json
import signal
import stat
import threading
import time

import requests


def test_empty_environment_serves_on_sqlite_under_data(workdir, serve):
    server = serve()
    response = requests.get(server.url + "/api/health", timeout=5)
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True and body["db"] == "up" and isinstance(body["latencyMs"], int)
    assert body["storage"] == "up" and body["uploads"] == "accepting"
    assert (workdir / "data" / "flux.sqlite").exists()
    secret = workdir / "data" / "secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    # A first start on an empty database warns about the generated secret and nothing else: no part may read
    # its tables before `flux serve` has migrated.
    warnings = [entry["message"] for entry in server.log_entries() if entry["level"] not in ("info", "notice")]
    assert len(warnings) == 1 and warnings[0].startswith("SESSION_SECRET is not set"), warnings


def test_every_log_line_is_json_and_no_secret_is_logged(workdir, serve):
    server = serve()
    requests.get(server.url + "/api/health?token=query-secret-value", headers={"X-Request-Id": "it-req-1"}, timeout=5)
    requests.get(server.url + "/does-not-exist", timeout=5)
    assert server.stop() == 0
    text = server.log_text()
    # Vapor prints one bare newline when a signal arrives ("clear ^C"); every non-blank line is JSON.
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert entries and all({"ts", "level", "message"} <= entry.keys() for entry in entries)
    access = [e for e in entries if e["message"] == "request" and e.get("request_id") == "it-req-1"]
    assert len(access) == 1 and access[0]["path"] == "/api/health" and access[0]["status"] == 200
    assert (workdir / "data" / "secret").read_text().strip() not in text
    assert "query-secret-value" not in text


def test_sigterm_drains_and_exits_cleanly(workdir, serve):
    server = serve()
    results = []

    def hammer():
        # Kept-alive connections, as a proxy holds them: requests keep arriving while the server stops.
        session = requests.Session()
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            try:
                results.append(session.get(server.url + "/api/health", timeout=5).status_code)
            except requests.ConnectionError:
                results.append("refused")
                return

    workers = [threading.Thread(target=hammer) for _ in range(3)]
    for worker in workers:
        worker.start()
    time.sleep(0.3)
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=10) == 0
    for worker in workers:
        worker.join()
    assert time.monotonic() - started < 5
    # Every request that got a response got a complete, successful one.
    assert all(status in (200, "refused") for status in results)
    assert results.count(200) > 0


def test_sigint_also_stops_cleanly(workdir, serve):
    server = serve()
    assert server.stop(signal.SIGINT) == 0
