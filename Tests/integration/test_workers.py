"""The worker control plane end to end, with the reference worker (examples/worker/worker.py) as the real peer and
two headless Chromium browsers: a client signs up and asks for its setup; an engineer provisions it, issues the
worker its key and presses Start in HQ; the worker shows a QR code that appears live on the client's status page;
the phone "scans" it (the worker's test hook) and the page turns connected without a reload; messages flow into the
log; the client changes its opening hours and the worker's answers change; staff stop the worker and the page says
stopped; the worker is killed, the organization's admin and staff are told it went silent, and told again when it
comes back. Around that, what the protocol refuses: other tenants' and scope-less keys, old reports, bad hours."""
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import requests
from selenium.webdriver.common.by import By

from helpers import (STRONG_SECRET, browser, browser_until, clean_env, free_port, login, mails_to, problems, register, run_flux, step,
                     wait_until)

WORKER = pathlib.Path(__file__).resolve().parents[2] / "examples" / "worker" / "worker.py"
PASSWORD = "client passphrase 2026"
ENGINEER_PASSWORD = "engineer passphrase 2026"
CLEAN = ([], 0, None)


class Worker:
    """The reference worker as a child process, with its test hook on a port of its own."""

    def __init__(self, server, key, directory):
        self.hook = free_port()
        self.state_file = directory / "worker-state.json"
        self.log = open(directory / "worker.log", "ab")
        env = dict(os.environ, FLUX_WORKER_KEY=key, TZ="UTC")
        self.process = subprocess.Popen([sys.executable, str(WORKER), "--url", server.url, "--name", "main", "--state-file",
                                         str(self.state_file), "--hook-port", str(self.hook)], env=env, stdout=self.log, stderr=self.log)
        assert wait_until(lambda: self.state() is not None, 15)

    def call(self, method, path, body=None):
        try:
            return requests.request(method, f"http://127.0.0.1:{self.hook}{path}", json=body, timeout=10)
        except requests.ConnectionError:
            return None

    def state(self):
        answer = self.call("GET", "/state")
        return answer.json() if answer is not None and answer.ok else None

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.log.close()


def bearer(token):
    return {"Authorization": "Bearer " + token}


def hq_sign_in(driver, server, email, password):
    driver.get(server.url + "/hq-command")
    driver.find_element(By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "#signin-form button").click()
    browser_until(driver, lambda d: "/hq-command/dashboard" in d.current_url, 15)


def portal_sign_in(driver, server, email, password):
    driver.get(server.url + "/app/sign-in")
    driver.find_element(By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "#signin-form button").click()
    browser_until(driver, lambda d: "/app/sign-in" not in d.current_url, 15)


def worker_state(driver):
    return driver.find_element(By.CSS_SELECTOR, "#worker-list [data-field='state']").text


def set_hours(driver, day, intervals):
    for index in range(2):
        opening, closing = intervals[index] if index < len(intervals) else ("", "")
        for which, value in (("open", opening), ("close", closing)):
            field = driver.find_element(By.ID, f"hours-{day}-{index}-{which}")
            driver.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input', {bubbles: true}))", field, value)


def test_a_worker_run_from_desired_state(workdir, serve, tmp_path):
    server = serve(WORKER_STALE_SECONDS="15")
    created = run_flux(["create-admin", "--email", "eng@example.com", "--role", "engineer"], server.env, workdir, input=ENGINEER_PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    engineer = bearer(login(server, "eng@example.com", ENGINEER_PASSWORD).json()["accessToken"])

    with step("a client signs up and asks for its setup; staff provision it and issue the worker's key"):
        register(server, "owner@trattoria.example", PASSWORD, name="Mario", company="Trattoria Roma")
        client_token = bearer(login(server, "owner@trattoria.example", PASSWORD).json()["accessToken"])
        asked = requests.post(server.url + "/api/portal/setup-request", json={"templateType": "restaurant", "contactNumber": "+39 06 555 0101"},
                              headers=client_token, timeout=10)
        assert asked.status_code == 201, asked.text
        for status in ("approved", "provisioned"):
            moved = requests.put(f"{server.url}/api/hq/setup-requests/{asked.json()['id']}/status", json={"status": status}, headers=engineer, timeout=10)
            assert moved.status_code == 200, moved.text
        tenant = requests.get(server.url + "/api/portal/me", headers=client_token, timeout=10).json()["tenantId"]
        key = requests.post(f"{server.url}/api/hq/tenants/{tenant}/api-keys", json={"name": "bot", "scopes": ["worker", "heartbeat", "logs:write"]},
                            headers=engineer, timeout=10).json()["key"]
        configured = requests.put(f"{server.url}/api/portal/tenant/current/config", headers=client_token, timeout=10, json={
            "templateType": "restaurant", "businessName": "Trattoria Roma", "language": "en",
            "openingHours": {day: [{"open": "00:00", "close": "24:00"}] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}})
        assert configured.status_code == 200, configured.text

    with step("what the protocol refuses: no key, a key without the scope, a malformed or out-of-order report"):
        assert requests.get(server.url + "/api/portal/worker/desired", timeout=10).status_code == 401
        narrow = requests.post(f"{server.url}/api/hq/tenants/{tenant}/api-keys", json={"name": "logs-only", "scopes": ["logs:write"]},
                               headers=engineer, timeout=10).json()["key"]
        assert requests.get(server.url + "/api/portal/worker/desired", headers=bearer(narrow), timeout=10).status_code == 403
        bad = requests.post(server.url + "/api/portal/worker/heartbeat", headers=bearer(key), timeout=10,
                            json={"name": "main", "status": "pairing", "sequence": 5})
        assert bad.status_code == 400 and "qr" in bad.json()["error"]["fields"]
        assert requests.get(server.url + "/api/portal/worker/desired?after=x", headers=bearer(key), timeout=10).status_code == 400

    worker = Worker(server, key, tmp_path)
    owner = browser()
    staff = browser()
    try:
        with step("the worker waits, stopped, until staff press Start in HQ"):
            assert wait_until(lambda: worker.state()["status"] == "stopped", 15)
            hq_sign_in(staff, server, "eng@example.com", ENGINEER_PASSWORD)
            staff.get(f"{server.url}/hq-command/workers")
            assert "Trattoria Roma Stopped main Stopped" in staff.find_element(By.ID, "workers").text
            staff.find_element(By.LINK_TEXT, "Trattoria Roma").click()
            browser_until(staff, lambda d: d.current_url.endswith(f"/hq-command/workers/{tenant}"))
            staff.find_element(By.ID, "command-reason").send_keys("First start after provisioning")
            staff.find_element(By.CSS_SELECTOR, "#worker-command button[value='start']").click()
            browser_until(staff, lambda d: "success" in d.find_element(By.CSS_SELECTOR, "#worker-command .notice").get_attribute("class"))
            assert problems(staff) == CLEAN

        with step("the client sees the pairing QR code appear live on its status page"):
            portal_sign_in(owner, server, "owner@trattoria.example", PASSWORD)
            owner.get(server.url + "/app/status")
            browser_until(owner, lambda d: d.find_element(By.CSS_SELECTOR, "figure.pairing").is_displayed(), 20)
            assert worker_state(owner) == "Waiting to be paired"
            image = owner.find_element(By.CSS_SELECTOR, "figure.pairing img").get_attribute("src")
            assert image.startswith("data:image/svg+xml;base64,")
            assert problems(owner) == CLEAN

        with step("the phone scans it and the page turns connected without a reload"):
            owner.execute_script("window.notReloaded = true")
            assert worker.call("POST", "/scan", {"number": "+39 333 000 1111"}).status_code == 200
            browser_until(owner, lambda d: worker_state(d) == "Connected", 10)
            assert owner.execute_script("return window.notReloaded") is True
            assert not owner.find_element(By.CSS_SELECTOR, "figure.pairing").is_displayed()
            assert "+39 333 000 1111" in owner.find_element(By.ID, "worker-list").text

        with step("messages flow into the log; the answers follow the opening hours the client edits"):
            reply = worker.call("POST", "/inbound", {"from": "+39 347 123 4567", "text": "Are you open?"}).json()["reply"]
            assert "Trattoria Roma" in reply and "open" in reply.lower()
            logs = requests.get(server.url + "/api/portal/tenant/current/logs", headers=client_token, timeout=10).json()["entries"]
            assert {entry["direction"] for entry in logs} == {"inbound", "outbound"}
            owner.get(server.url + "/app/status")
            for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
                set_hours(owner, day, [])
            set_hours(owner, "mon", [("09:00", "10:00")])
            owner.find_element(By.CSS_SELECTOR, "#worker-config button[type=submit]").click()
            browser_until(owner, lambda d: "success" in d.find_element(By.CSS_SELECTOR, "#worker-config .notice").get_attribute("class"))
            assert wait_until(lambda: worker.state()["configVersion"] == requests.get(server.url + "/api/portal/tenant/current/worker",
                                                                                  headers=client_token, timeout=10).json()["config"]["version"], 10)
            closed = worker.call("POST", "/inbound", {"from": "+39 347 123 4567", "text": "Are you open now?"}).json()["reply"]
            assert closed != reply and "closed" in closed.lower()

        with step("an overlapping interval is refused beside its field, and what was typed stays"):
            set_hours(owner, "tue", [("09:00", "13:00"), ("12:00", "15:00")])
            owner.find_element(By.CSS_SELECTOR, "#worker-config button[type=submit]").click()
            browser_until(owner, lambda d: d.find_element(By.ID, "hours-tue-1-open-error").text != "")
            assert owner.find_element(By.ID, "hours-tue-1-open").get_attribute("value") == "12:00"
            saved = requests.get(server.url + "/api/portal/tenant/current/worker", headers=client_token, timeout=10).json()["config"]
            assert saved["openingHours"].get("tue", []) == [] and saved["openingHours"]["mon"] == [{"open": "09:00", "close": "10:00"}]

        with step("a report older than the last one is ignored"):
            before = requests.get(server.url + "/api/portal/tenant/current/worker", headers=client_token, timeout=10).json()["workers"][0]
            old = requests.post(server.url + "/api/portal/worker/heartbeat", headers=bearer(key), timeout=10,
                                json={"name": "main", "status": "error", "sequence": 1, "lastError": "late"})
            assert old.status_code == 204
            after = requests.get(server.url + "/api/portal/tenant/current/worker", headers=client_token, timeout=10).json()["workers"][0]
            assert after["reported"] == before["reported"] == "connected" and after.get("lastError") is None

        with step("staff stop the worker from HQ and the client's page says stopped"):
            staff.get(f"{server.url}/hq-command/workers/{tenant}")
            staff.find_element(By.ID, "command-reason").send_keys("Client asked for a pause")
            staff.find_element(By.CSS_SELECTOR, "#worker-command button[value='stop']").click()
            browser_until(owner, lambda d: worker_state(d) == "Stopped", 15)

        with step("the worker is killed: it turns stale, and the client's admin and staff are told once"):
            worker.kill()
            browser_until(owner, lambda d: worker_state(d) == "Not reporting", 40)
            assert wait_until(lambda: mails_to(workdir, "owner@trattoria.example", "has not reported"), 15)
            notices = requests.get(server.url + "/api/portal/notifications", headers=client_token, timeout=10).json()["notifications"]
            assert [(n["kind"], n["subject"]) for n in notices if n["kind"] == "worker"] == [("worker", "stale")], notices
            assert wait_until(lambda: mails_to(workdir, "eng@example.com", f"/hq-command/workers/{tenant}"), 10)

        with step("started again, it recovers and they hear so"):
            worker = Worker(server, key, tmp_path)
            browser_until(owner, lambda d: worker_state(d) == "Stopped", 20)
            assert wait_until(lambda: any(n["kind"] == "worker" and n["subject"] == "recovered" for n in requests.get(
                server.url + "/api/portal/notifications", headers=client_token, timeout=10).json()["notifications"]), 10)
            owner.get(server.url + "/app/notifications")
            assert "Your assistant is reporting again." in owner.find_element(By.ID, "notifications").text
            assert wait_until(lambda: mails_to(workdir, "owner@trattoria.example", "is reporting again"), 10)
            assert len(mails_to(workdir, "owner@trattoria.example", "has not reported")) == 1
    finally:
        worker.stop()
        owner.quit()
        staff.quit()


def test_a_change_reaches_a_long_poll_at_once(workdir, serve):
    """A long poll answers within moments of a change, and after its 25 s with the same state when nothing changes."""
    server = serve()
    created = run_flux(["create-admin", "--email", "eng@example.com", "--role", "engineer"], server.env, workdir, input=ENGINEER_PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    engineer = bearer(login(server, "eng@example.com", ENGINEER_PASSWORD).json()["accessToken"])
    register(server, "owner@shop.example", PASSWORD, name="Ada", company="Shop")
    client_token = bearer(login(server, "owner@shop.example", PASSWORD).json()["accessToken"])
    tenant = requests.get(server.url + "/api/portal/me", headers=client_token, timeout=10).json()["tenantId"]
    key = requests.post(f"{server.url}/api/hq/tenants/{tenant}/api-keys", json={"name": "bot", "scopes": ["worker"]},
                        headers=engineer, timeout=10).json()["key"]
    first = requests.get(server.url + "/api/portal/worker/desired", headers=bearer(key), timeout=10).json()
    assert first["run"] is False and first["commands"] == []

    answer = {}

    def poll():
        started = time.monotonic()
        answer["body"] = requests.get(f"{server.url}/api/portal/worker/desired?after={first['version']}", headers=bearer(key), timeout=40).json()
        answer["seconds"] = time.monotonic() - started

    waiting = threading.Thread(target=poll)
    waiting.start()
    time.sleep(1)
    command = requests.post(f"{server.url}/api/hq/tenants/{tenant}/worker/commands", json={"kind": "restart", "reason": "test"},
                            headers=engineer, timeout=10)
    assert command.status_code == 202, command.text
    waiting.join(30)
    assert answer["seconds"] < 2.5, answer
    assert answer["body"]["run"] is True and answer["body"]["restartGeneration"] == 1
    assert [c["id"] for c in answer["body"]["commands"]] == [command.json()["id"]]

    with step("the command acknowledged is never listed again"):
        acked = requests.post(server.url + "/api/portal/worker/heartbeat", headers=bearer(key), timeout=10,
                              json={"name": "main", "status": "starting", "sequence": 10, "acknowledged": [command.json()["id"]]})
        assert acked.status_code == 403  # this key has only the worker scope
        both = requests.post(f"{server.url}/api/hq/tenants/{tenant}/api-keys", json={"name": "bot2", "scopes": ["worker", "heartbeat"]},
                             headers=engineer, timeout=10).json()["key"]
        acked = requests.post(server.url + "/api/portal/worker/heartbeat", headers=bearer(both), timeout=10,
                              json={"name": "main", "status": "starting", "sequence": 10, "acknowledged": [command.json()["id"]]})
        assert acked.status_code == 204, acked.text
        assert requests.get(server.url + "/api/portal/worker/desired", headers=bearer(key), timeout=10).json()["commands"] == []

    with step("another tenant's id in HQ's API does not exist for a client"):
        other = requests.get(f"{server.url}/api/hq/tenants/{tenant}/worker", headers=client_token, timeout=10)
        assert other.status_code == 403

    started = time.monotonic()
    current = requests.get(server.url + "/api/portal/worker/desired", headers=bearer(key), timeout=10).json()
    same = requests.get(f"{server.url}/api/portal/worker/desired?after={current['version']}", headers=bearer(key), timeout=40).json()
    assert 24 <= time.monotonic() - started <= 30 and same["version"] == current["version"]


def test_replicas_and_restarts_on_postgresql(postgres_database, serve, workdir, tmp_path):
    """Two replicas on one PostgreSQL database: a change made through one reaches a worker long-polling the other
    within a second (LISTEN/NOTIFY). The replica the worker talks to is restarted while a command waits: the worker
    reconnects, and the command is applied once and acknowledged."""
    env = clean_env(FLUX_ENV="production", SESSION_SECRET=STRONG_SECRET, DATABASE_URL=postgres_database["url"])
    first = serve(env=env)
    second = serve(env=env)
    created = run_flux(["create-admin", "--email", "eng@example.com", "--role", "engineer"], first.env, workdir, input=ENGINEER_PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    engineer = bearer(login(first, "eng@example.com", ENGINEER_PASSWORD).json()["accessToken"])
    register(first, "owner@replica.example", PASSWORD, name="Ada", company="Replica Shop")
    client_token = bearer(login(first, "owner@replica.example", PASSWORD).json()["accessToken"])
    tenant = requests.get(first.url + "/api/portal/me", headers=client_token, timeout=10).json()["tenantId"]
    key = requests.post(f"{first.url}/api/hq/tenants/{tenant}/api-keys", json={"name": "bot", "scopes": ["worker", "heartbeat", "logs:write"]},
                        headers=engineer, timeout=10).json()["key"]

    def issue(kind):
        answer = requests.post(f"{first.url}/api/hq/tenants/{tenant}/worker/commands", json={"kind": kind, "reason": "replica test"},
                               headers=engineer, timeout=10)
        assert answer.status_code == 202, answer.text
        return answer.json()["id"]

    with step("a change through one replica wakes a long poll on the other within a second"):
        version = requests.get(second.url + "/api/portal/worker/desired", headers=bearer(key), timeout=10).json()["version"]
        answer = {}

        def poll():
            answer["body"] = requests.get(f"{second.url}/api/portal/worker/desired?after={version}", headers=bearer(key), timeout=40).json()
            answer["at"] = time.monotonic()

        waiting = threading.Thread(target=poll)
        waiting.start()
        time.sleep(1)
        sent = time.monotonic()
        issue("start")
        waiting.join(30)
        assert answer["body"]["run"] is True and answer["at"] - sent < 1.0, answer

    worker = Worker(second, key, tmp_path)
    try:
        with step("the worker runs; its replica restarts while a restart command waits"):
            assert wait_until(lambda: worker.state()["status"] == "pairing", 15)
            second.stop()
            command = issue("restart")
            second.start()
            acknowledged = lambda: not requests.get(first.url + "/api/portal/worker/desired", headers=bearer(key), timeout=10).json()["commands"]
            assert wait_until(acknowledged, 45)
            applied = [line for line in (tmp_path / "worker.log").read_text().splitlines() if '"command"' in line and command in line]
            assert len(applied) == 1, applied
            assert wait_until(lambda: worker.state()["status"] == "pairing", 15)
    finally:
        worker.stop()
