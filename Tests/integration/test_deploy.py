"""The shipped deployment files: the systemd unit verifies, and nginx in front of two Flux replicas on one
PostgreSQL works live: no 502, HSTS over HTTPS, only the address nginx saw is believed, and the portal's
WebSocket passes through to either replica and gets messages posted through the other."""
import shutil
import subprocess
import threading
import time

import json
import ssl
from types import SimpleNamespace

import pytest
import requests
from websockets.sync.client import connect as websocket

from helpers import FLUX_BIN, ROOT, raw_https_get

# The test certificate is self-signed for this run; what is tested is nginx's proxying, not the PKI.
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


def test_systemd_unit_verifies(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    unit = (ROOT / "deploy" / "flux.service").read_text().replace("/usr/local/bin/flux", str(FLUX_BIN))
    path = tmp_path / "flux.service"
    path.write_text(unit)
    result = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr
    for directive in ("DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes", "StateDirectory=flux",
                      "RestrictAddressFamilies=", "Restart=on-failure", "StartLimitBurst=", "EnvironmentFile=/etc/flux/flux.env"):
        assert directive in unit


def test_requests_through_nginx_succeed_with_hsts(nginx_in_front):
    statuses = [requests.get(nginx_in_front["https"] + "/api/health", verify=False, timeout=5) for _ in range(40)]
    assert [response.status_code for response in statuses] == [200] * 40
    assert all(response.json()["db"] == "up" for response in statuses)
    assert statuses[0].headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"
    # Directly, over plain HTTP, Flux does not claim HTTPS.
    direct = requests.get(nginx_in_front["replicas"][0].url + "/api/health", timeout=5)
    assert "Strict-Transport-Security" not in direct.headers
    redirect = requests.get(nginx_in_front["http"] + "/api/health", allow_redirects=False, timeout=5)
    assert redirect.status_code == 301 and redirect.headers["Location"].startswith("https://")


def test_only_the_address_nginx_saw_is_believed(nginx_in_front):
    # /api/csrf allows 60 a minute per address. Every request claims a new address; if Flux believed the
    # claim, none would ever be limited. nginx replaces the header with the address it saw, so they share
    # one bucket and are limited (the two replicas keep their buckets in PostgreSQL, shared).
    statuses = []
    started = time.monotonic()
    for n in range(300):
        statuses.append(requests.get(nginx_in_front["https"] + "/api/csrf", verify=False, timeout=5,
                                     headers={"X-Forwarded-For": f"10.{n // 256}.{n % 256}.1"}).status_code)
        if statuses[-1] == 429:
            break
    elapsed = time.monotonic() - started
    assert set(statuses) <= {200, 429}
    # Refused after the burst of 60 plus the one-a-second refill while the loop ran; believing the claimed
    # addresses would have allowed all 300.
    assert statuses[-1] == 429 and statuses.count(200) <= 61 + elapsed, (len(statuses), elapsed)


def test_portal_websocket_through_nginx_reaches_both_replicas(nginx_in_front):
    front = SimpleNamespace(url=nginx_in_front["https"])
    visitor = requests.Session()
    visitor.headers["X-CSRF-Token"] = visitor.get(front.url + "/api/csrf", verify=False, timeout=5).json()["token"]
    password = "portal passphrase 2026"
    assert visitor.post(front.url + "/api/auth/register", verify=False, timeout=10, json={
        "email": "owner@ws.example", "password": password, "name": "Owner", "company": "Sockets Ltd"}).status_code == 202
    token = visitor.post(front.url + "/api/auth/login", json={"email": "owner@ws.example", "password": password},
                         verify=False, timeout=10).json()["accessToken"]
    bearer = {"Authorization": "Bearer " + token}
    created = requests.post(front.url + "/api/portal/conversations", json={"kind": "channel", "title": "Ops"}, headers=bearer,
                            verify=False, timeout=10)
    assert created.status_code == 201, created.text
    thread = created.json()["id"]
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    # nginx spreads the upgrades over both replicas; each socket must get what was posted through either.
    sockets = [websocket(front.url.replace("https", "wss") + "/api/portal/realtime", ssl=insecure, additional_headers=bearer,
                         open_timeout=10) for _ in range(4)]
    try:
        for socket in sockets:
            socket.send(json.dumps({"type": "subscribe", "threadIds": [thread]}))
            assert json.loads(socket.recv(timeout=10))["type"] == "subscribed"
        for n in range(2):
            posted = requests.post(f"{front.url}/api/portal/conversations/{thread}/messages", json={"body": f"through nginx {n}"},
                                   headers=bearer, verify=False, timeout=10)
            assert posted.status_code == 201, posted.text
        for socket in sockets:
            bodies = []
            while len(bodies) < 2:
                frame = json.loads(socket.recv(timeout=10))
                if frame["type"] == "message.created":
                    bodies.append(frame["data"]["body"])
            assert bodies == ["through nginx 0", "through nginx 1"]
    finally:
        for socket in sockets:
            socket.close()


# Request targets sent as written (an HTTP client library would normalise most of them away) that nginx
# decodes, merges or resolves to a path under /metrics; Vapor routes `/metrics/` like `/metrics`.
METRICS_SPELLINGS = ["/metrics", "/metrics/", "/metrics?x", "/metrics/?format=text", "//metrics", "/./metrics",
                     "/api/../metrics", "/%6Detrics", "/metrics%2F", "/metrics;x", "/metrics/.", "http://flux.test/metrics"]


@pytest.mark.parametrize("target", METRICS_SPELLINGS)
def test_metrics_are_not_served_through_nginx(nginx_in_front, target):
    status, headers, body = raw_https_get(nginx_in_front["https_port"], target)
    # nginx's own 404: a response from Flux would carry X-Request-Id.
    assert status == 404 and "x-request-id" not in headers, (status, headers)
    assert b"http_requests_total" not in body


@pytest.mark.parametrize("nginx_in_front", [3], indirect=True)
def test_rolling_restart_loses_no_request(nginx_in_front):
    """Each of three replicas in turn gets SIGTERM (drains, exits) and starts again while clients keep
    sending requests through nginx; every request must succeed."""
    results = []
    stop = threading.Event()

    def client():
        session = requests.Session()
        while not stop.is_set():
            try:
                results.append(session.get(nginx_in_front["https"] + "/api/health", verify=False, timeout=10).status_code)
            except requests.RequestException as error:
                results.append(type(error).__name__)

    clients = [threading.Thread(target=client) for _ in range(8)]
    for thread in clients:
        thread.start()
    time.sleep(1)
    for replica in nginx_in_front["replicas"]:
        assert replica.stop() == 0
        time.sleep(0.5)
        replica.start()
        time.sleep(1)
    stop.set()
    for thread in clients:
        thread.join()
    failures = [result for result in results if result != 200]
    print(f"rolling restart: {len(results)} requests, {len(failures)} failed")
    assert len(results) > 100
    assert failures == []
