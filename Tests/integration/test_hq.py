"""The HQ Command Center in headless Chromium against `flux serve` on a seeded database: an owner signs in
with a TOTP enrolment, every page renders its data with no console error and no CSP violation, an XSS corpus
stored through every field HQ shows (chat messages, consultation fields, names, organizations, user agents)
runs no script anywhere, the dashboard updates live without a reload, and screenshots of the dashboard
and of a transcript are saved as artifacts (ARTIFACTS_DIR, default artifacts/ at the repository root)."""
import os
import pathlib
import subprocess
import uuid

import pyotp
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

from conftest import FLUX_BIN, ROOT, clean_env, run_flux
from test_site import browser

PASSWORD = "owner passphrase for hq 2026"
ARTIFACTS = pathlib.Path(os.environ.get("ARTIFACTS_DIR", ROOT / "artifacts"))
# Each payload, if it ever ran, would count itself in window.__xss.
CORPUS = [
    '<script>window.__xss=(window.__xss||0)+1</script>',
    '<img src=x onerror="window.__xss=(window.__xss||0)+1">',
    '"><svg onload="window.__xss=(window.__xss||0)+1">',
    "'><iframe srcdoc=\"<script>parent.__xss=(parent.__xss||0)+1</script>\">",
    'javascript:window.__xss=(window.__xss||0)+1',
    '</textarea></title><script>window.__xss=1</script>',
]


def csrf_session(server, **headers):
    session = requests.Session()
    session.headers.update(headers)
    session.headers["X-CSRF-Token"] = session.get(server.url + "/api/csrf", timeout=5).json()["token"]
    return session


def store_corpus(server):
    """Every payload through every public field HQ later shows."""
    for index, payload in enumerate(CORPUS):
        visitor = csrf_session(server, **{"X-Forwarded-For": f"10.9.0.{index}"})
        session_id = f"xss-{index}"
        assert visitor.post(server.url + "/api/chat", json={"sessionId": session_id, "message": "We dry yarn " + payload},
                            timeout=10).status_code == 200
        assert visitor.post(server.url + "/api/consultation", timeout=10, json={
            "name": payload[:120], "company": payload[:160], "email": f"x{index}@example.com", "preferredContact": "email",
            "message": payload, "timeframe": payload[:100], "sessionId": session_id}).status_code == 201, payload
        registered = visitor.post(server.url + "/api/auth/register", timeout=10, json={
            "email": f"client{index}@example.com", "password": "client passphrase 2026", "name": payload[:100], "company": payload[:100]})
        assert registered.status_code == 202
        # A sign-in with the payload as its user agent: audit log and device label.
        csrf_session(server, **{"User-Agent": payload, "X-Forwarded-For": f"10.9.1.{index}"}).post(
            server.url + "/api/auth/login", json={"email": f"client{index}@example.com", "password": "client passphrase 2026"}, timeout=10)


def sign_in(driver, server, email):
    driver.get(server.url + "/hq-command")
    driver.find_element(By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "#signin-form button").click()
    secret = WebDriverWait(driver, 15, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(lambda d: d.find_element(By.ID, "secret").text or None)
    driver.find_element(By.ID, "code").send_keys(pyotp.TOTP(secret).now())
    driver.find_element(By.CSS_SELECTOR, "#code-form button").click()
    WebDriverWait(driver, 15, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#recovery-codes li")) == 10)
    driver.find_element(By.ID, "continue").click()
    WebDriverWait(driver, 15, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(lambda d: d.current_url.endswith("/hq-command/dashboard"))


def problems(driver):
    logged = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"
              or "Content Security Policy" in entry["message"]]
    ran = driver.execute_script("return window.__xss || 0")
    alert = None
    try:
        alert = driver.switch_to.alert.text
    except Exception:
        pass
    return logged, ran, alert


def test_hq_in_a_real_browser(workdir, serve):
    env = clean_env(TRUSTED_PROXIES="127.0.0.1")
    seeded = run_flux(["seed-demo", "--conversations", "200"], env, workdir, timeout=120)
    assert seeded.returncode == 0, seeded.stderr
    created = subprocess.run([str(FLUX_BIN), "create-admin", "--email", "owner@example.com", "--role", "owner"], input=PASSWORD + "\n",
                             env=env, cwd=workdir, capture_output=True, text=True, timeout=60)
    assert created.returncode == 0, created.stderr
    server = serve(env=env)
    store_corpus(server)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    driver = browser()
    try:
        sign_in(driver, server, "owner@example.com")
        tiles = WebDriverWait(driver, 10, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(
            lambda d: [tile.text for tile in d.find_elements(By.CSS_SELECTOR, ".tile-title")] or None)
        assert "FluxAI Conversations" in tiles and "Signals" in tiles and "Tenants" in tiles
        driver.save_screenshot(str(ARTIFACTS / "hq-dashboard.png"))

        driver.get(server.url + "/hq-command/dashboard/conversations")
        assert int(driver.find_element(By.ID, "kpi-total").text) == 206
        assert len(driver.find_elements(By.CSS_SELECTOR, "#funnel tbody tr")) == 4
        assert len(driver.find_elements(By.CSS_SELECTOR, "#industries li")) == 5
        assert len(driver.find_elements(By.CSS_SELECTOR, "#recent tbody tr")) == 50
        assert len(driver.find_elements(By.CSS_SELECTOR, "figure.chart svg")) == 3
        # Live: a new chat elsewhere shows up without a reload.
        live = driver.find_element(By.CSS_SELECTOR, '[data-live="conversations"]')
        WebDriverWait(driver, 10, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(lambda d: d.execute_script("return document.body.dataset.liveUpdated"))
        before = int(live.text)
        csrf_session(server, **{"X-Forwarded-For": "10.9.9.9"}).post(
            server.url + "/api/chat", json={"sessionId": "live-" + uuid.uuid4().hex, "message": "Hello"}, timeout=10)
        WebDriverWait(driver, 15, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(lambda d: int(live.text) == before + 1)

        # The transcript of a converted chat that carried the corpus, with its ticket in green.
        driver.get(server.url + "/hq-command/dashboard/conversations?outcome=CONSULTATION&locale=en")
        links = [a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "#recent a")]
        assert links
        pages = {"/hq-command/dashboard", "/hq-command/signals", "/hq-command/users", "/hq-command/tenants", "/hq-command/audit",
                 "/hq-command/health", "/hq-command/audit?action=login.failure"}
        pages |= {link.removeprefix(server.url) for link in links[:8]}
        driver.get(links[0])
        WebDriverWait(driver, 10, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#events tbody tr"))
        assert driver.find_element(By.ID, "ticket").value_of_css_property("color") == "rgba(30, 125, 50, 1)"
        driver.save_screenshot(str(ARTIFACTS / "hq-transcript.png"))
        driver.get(server.url + "/hq-command/signals")
        pages |= {a.get_attribute("href").removeprefix(server.url) for a in driver.find_elements(By.CSS_SELECTOR, "#signals td a")[:10]}

        for path in sorted(pages):
            driver.get(server.url + path)
            WebDriverWait(driver, 10, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(lambda d: d.find_elements(By.TAG_NAME, "h1"))
            assert "Not for your role" not in driver.page_source, path
            logged, ran, alert = problems(driver)
            assert (logged, ran, alert) == ([], 0, None), path

        driver.get(server.url + "/hq-command/users")
        rows = driver.find_elements(By.CSS_SELECTOR, "#users tbody tr")
        assert any("client0@example.com" in row.text for row in rows) and any(CORPUS[0][:20] in row.text for row in rows)
        assert problems(driver) == ([], 0, None)
        # The user agents arrive in the audit log as the text they were.
        driver.get(server.url + "/hq-command/audit")
        assert any(CORPUS[1] in row.text for row in driver.find_elements(By.CSS_SELECTOR, "#audit tbody tr"))
        assert problems(driver) == ([], 0, None)
    finally:
        driver.quit()
