"""The HQ Command Center in headless Chromium against `flux serve` on a seeded database: an owner signs in
with a TOTP enrolment, every page renders its data with no console error and no CSP violation, an XSS corpus
stored through every field HQ shows (chat messages, consultation fields, names, organizations, user agents)
runs no script anywhere, the dashboard updates live without a reload, and screenshots of the dashboard
and of a transcript are saved as artifacts (ARTIFACTS_DIR, default artifacts/ at the repository root)."""
import os
import pathlib
import uuid

import pyotp
from selenium.webdriver.common.by import By

from helpers import ROOT, browser, browser_until, clean_env, csrf_session, problems, register, run_flux, step

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
        register(server, f"client{index}@example.com", "client passphrase 2026", session=visitor, name=payload[:100],
                 company=payload[:100])
        # A sign-in with the payload as its user agent: audit log and device label.
        csrf_session(server, **{"User-Agent": payload, "X-Forwarded-For": f"10.9.1.{index}"}).post(
            server.url + "/api/auth/login", json={"email": f"client{index}@example.com", "password": "client passphrase 2026"}, timeout=10)


def sign_in(driver, server, email):
    """HQ's first sign-in as the browser walks it: password, TOTP enrolment with pyotp's code, recovery codes."""
    driver.get(server.url + "/hq-command")
    driver.find_element(By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "#signin-form button").click()
    secret = browser_until(driver, lambda d: d.find_element(By.ID, "secret").text or None, 15)
    driver.find_element(By.ID, "code").send_keys(pyotp.TOTP(secret).now())
    driver.find_element(By.CSS_SELECTOR, "#code-form button").click()
    browser_until(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#recovery-codes li")) == 10, 15)
    driver.find_element(By.ID, "continue").click()
    browser_until(driver, lambda d: d.current_url.endswith("/hq-command/dashboard"), 15)


def test_hq_in_a_real_browser(workdir, serve):
    env = clean_env(TRUSTED_PROXIES="127.0.0.1")
    with step("seed 200 conversations, create the owner, store the XSS corpus"):
        seeded = run_flux(["seed-demo", "--conversations", "200"], env, workdir, timeout=120)
        assert seeded.returncode == 0, seeded.stderr
        created = run_flux(["create-admin", "--email", "owner@example.com", "--role", "owner"], env, workdir, input=PASSWORD + "\n")
        assert created.returncode == 0, created.stderr
        server = serve(env=env)
        store_corpus(server)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    driver = browser()
    try:
        with step("the owner signs in with a TOTP enrolment and sees the dashboard's tiles"):
            sign_in(driver, server, "owner@example.com")
            tiles = browser_until(driver, lambda d: [tile.text for tile in d.find_elements(By.CSS_SELECTOR, ".tile-title")] or None)
            assert "FluxAI Conversations" in tiles and "Signals" in tiles and "Tenants" in tiles
            driver.save_screenshot(str(ARTIFACTS / "hq-dashboard.png"))

        with step("the conversations dashboard shows the seeded figures"):
            driver.get(server.url + "/hq-command/dashboard/conversations")
            assert int(driver.find_element(By.ID, "kpi-total").text) == 206
            assert len(driver.find_elements(By.CSS_SELECTOR, "#funnel tbody tr")) == 4
            assert len(driver.find_elements(By.CSS_SELECTOR, "#industries tbody tr")) >= 5
            assert len(driver.find_elements(By.CSS_SELECTOR, "#recent tbody tr")) == 50
            assert len(driver.find_elements(By.CSS_SELECTOR, "figure.chart svg")) == 1
            assert not any(table.is_displayed() for table in driver.find_elements(By.CSS_SELECTOR, "table.fallback"))

        with step("a new chat elsewhere shows up on the dashboard without a reload"):
            live = driver.find_element(By.CSS_SELECTOR, '[data-live="conversations"]')
            browser_until(driver, lambda d: d.execute_script("return document.body.dataset.liveUpdated"))
            before = int(live.text)
            csrf_session(server, **{"X-Forwarded-For": "10.9.9.9"}).post(
                server.url + "/api/chat", json={"sessionId": "live-" + uuid.uuid4().hex, "message": "Hello"}, timeout=10)
            browser_until(driver, lambda d: int(live.text) == before + 1, 15)

        with step("the transcript of a converted chat that carried the corpus shows its ticket in green"):
            driver.get(server.url + "/hq-command/dashboard/conversations?outcome=CONSULTATION&locale=en")
            links = [a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "#recent a")]
            assert links
            pages = {"/hq-command/dashboard", "/hq-command/signals", "/hq-command/users", "/hq-command/tenants", "/hq-command/audit",
                     "/hq-command/health", "/hq-command/audit?action=login.failure"}
            pages |= {link.removeprefix(server.url) for link in links[:8]}
            driver.get(links[0])
            browser_until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#events li.visitor"))
            assert '{"text"' not in driver.find_element(By.ID, "events").text
            assert driver.find_element(By.ID, "ticket").value_of_css_property("color") == "rgba(30, 125, 50, 1)"
            driver.save_screenshot(str(ARTIFACTS / "hq-transcript.png"))
            driver.get(server.url + "/hq-command/signals")
            pages |= {a.get_attribute("href").removeprefix(server.url) for a in driver.find_elements(By.CSS_SELECTOR, "#signals td a")[:10]}

        for path in sorted(pages):
            with step(f"{path} renders for the owner with no console error and no script run"):
                driver.get(server.url + path)
                browser_until(driver, lambda d: d.find_elements(By.TAG_NAME, "h1"))
                assert "Not for your role" not in driver.page_source, path
                logged, ran, alert = problems(driver)
                assert (logged, ran, alert) == ([], 0, None), path

        with step("the users page shows the corpus's names as text"):
            driver.get(server.url + "/hq-command/users")
            rows = driver.find_elements(By.CSS_SELECTOR, "#users tbody tr")
            assert any("client0@example.com" in row.text for row in rows) and any(CORPUS[0][:20] in row.text for row in rows)
            assert problems(driver) == ([], 0, None)

        with step("the audit log shows the corpus's user agents as text"):
            driver.get(server.url + "/hq-command/audit")
            assert any(CORPUS[1] in row.text for row in driver.find_elements(By.CSS_SELECTOR, "#audit tbody tr"))
            assert problems(driver) == ([], 0, None)
    finally:
        driver.quit()
