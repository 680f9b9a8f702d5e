"""The client portal in headless Chromium: a client registered through the API signs in at /app/sign-in,
is sent to onboarding, requests its setup from the page, and sees its status; once staff provision it and its
worker reports in with a scoped API key, the status page shows the organization active and the worker running.
Then the admin invites a colleague from the team page, and the colleague accepts the mailed link in a second
browser and signs in; the admin opens a channel, and messages typed in one browser arrive live in the other;
a file the admin uploads and shares with the organization appears in the colleague's list, and its share link
works."""
import subprocess

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

from conftest import FLUX_BIN
from test_hq import csrf_session, problems
from test_identity import wait_for_mail
from test_site import browser

PASSWORD = "client passphrase 2026"


def test_onboarding_to_a_running_service_in_a_real_browser(workdir, serve):
    server = serve()
    visitor = csrf_session(server)
    assert visitor.post(server.url + "/api/auth/register", timeout=10, json={
        "email": "owner@clinic.example", "password": PASSWORD, "name": "Dr Who", "company": "Clinica Roma"}).status_code == 202
    # The owner proves the address (inviting colleagues needs it).
    token = wait_for_mail(workdir, "/account/verify-email#token=").split("#token=")[1]
    assert visitor.post(server.url + "/api/auth/email/verify", json={"token": token}, timeout=10).status_code == 204

    driver = browser()
    try:
        driver.get(server.url + "/app/status")
        WebDriverWait(driver, 10, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(lambda d: "/app/sign-in" in d.current_url)
        driver.find_element(By.ID, "email").send_keys("owner@clinic.example")
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "#signin-form button").click()
        # The status page was asked for, but a client without a setup request belongs in onboarding.
        WebDriverWait(driver, 15, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(lambda d: d.current_url.endswith("/app/status"))
        driver.get(server.url + "/app")
        WebDriverWait(driver, 10, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(lambda d: d.current_url.endswith("/app/onboarding"))
        Select(driver.find_element(By.ID, "templateType")).select_by_visible_text("clinic")
        driver.find_element(By.ID, "contactNumber").send_keys("+39 06 1234567")
        driver.find_element(By.CSS_SELECTOR, "#setup-form button").click()
        WebDriverWait(driver, 15, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(
            lambda d: d.current_url.endswith("/app/status") and "pending" in d.find_element(By.ID, "tenant-status").text)
        assert problems(driver) == ([], 0, None)

        # Staff provision it; its worker reports with the key they issue.
        engineer_password = "engineer passphrase 2026"
        subprocess.run([str(FLUX_BIN), "create-admin", "--email", "eng@example.com", "--role", "engineer"], input=engineer_password + "\n",
                       env=server.env, cwd=workdir, capture_output=True, text=True, timeout=60, check=True)
        staff = csrf_session(server)
        token = staff.post(server.url + "/api/auth/login", json={"email": "eng@example.com", "password": engineer_password},
                           timeout=10).json()["accessToken"]
        bearer = {"Authorization": "Bearer " + token}
        tenants = requests.get(server.url + "/hq-command/tenants", headers=bearer, timeout=10).text
        request_id = tenants.split('data-request="')[1].split('"')[0]
        for status in ("approved", "provisioned"):
            moved = requests.put(f"{server.url}/api/hq/setup-requests/{request_id}/status", json={"status": status}, headers=bearer, timeout=10)
            assert moved.status_code == 200, moved.text
        me = requests.get(server.url + "/api/portal/me", timeout=10,
                          headers={"Cookie": "; ".join(f"{c['name']}={c['value']}" for c in driver.get_cookies())})
        tenant_id = me.json()["tenantId"]
        key = requests.post(f"{server.url}/api/hq/tenants/{tenant_id}/api-keys", json={"name": "bridge", "scopes": ["heartbeat"]},
                            headers=bearer, timeout=10).json()["key"]
        beat = requests.post(server.url + "/api/portal/worker/heartbeat", json={"name": "whatsapp-bridge", "status": "running"},
                             headers={"Authorization": "Bearer " + key}, timeout=10)
        assert beat.status_code == 204, beat.text

        driver.get(server.url + "/app/status")
        facts = driver.find_element(By.ID, "tenant-status").text
        assert "active" in facts and "provisioned" in facts and "clinic" in facts
        assert "whatsapp-bridge" in driver.find_element(By.ID, "workers").text
        assert problems(driver) == ([], 0, None)

        driver.get(server.url + "/app/team")
        driver.find_element(By.ID, "invite-email").send_keys("colleague@clinic.example")
        driver.find_element(By.CSS_SELECTOR, "#invite-form button").click()
        WebDriverWait(driver, 10, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(lambda d: "colleague@clinic.example" in d.find_element(By.ID, "invitations").text)
        link = wait_for_mail(workdir, "/app/accept-invitation#invitation=")
        colleague = browser()
        try:
            colleague.get(link)
            colleague.find_element(By.ID, "accept-name").send_keys("Nurse Joy")
            colleague.find_element(By.ID, "accept-password").send_keys("colleague passphrase 2026")
            colleague.find_element(By.CSS_SELECTOR, "#accept-form button").click()
            WebDriverWait(colleague, 10, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(lambda d: d.find_element(By.ID, "accepted").is_displayed())
            assert "token" not in colleague.current_url
            colleague.find_element(By.LINK_TEXT, "Sign in").click()
            WebDriverWait(colleague, 10, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(
                lambda d: d.current_url.endswith("/app/sign-in") and d.find_element(By.ID, "signin-form"))
            colleague.find_element(By.ID, "email").send_keys("colleague@clinic.example")
            colleague.find_element(By.ID, "password").send_keys("colleague passphrase 2026")
            colleague.find_element(By.CSS_SELECTOR, "#signin-form button").click()
            WebDriverWait(colleague, 15, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(lambda d: d.current_url.endswith("/app/status"))
            assert problems(colleague) == ([], 0, None)

            # A channel, and a message typed in one browser that appears in the other without a reload.
            driver.get(server.url + "/app/messages")
            driver.find_element(By.ID, "channel-title").send_keys("Front desk")
            driver.find_element(By.CSS_SELECTOR, "#channel-form button").click()
            live = lambda d: d.find_element(By.ID, "chat").get_attribute("data-state") == "live"
            WebDriverWait(driver, 15, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(lambda d: "thread=" in d.current_url and live(d))
            colleague.get(driver.current_url)
            WebDriverWait(colleague, 15, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(live)
            WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "presence").text == "1 other online")
            driver.find_element(By.ID, "message-body").send_keys("Patient in room 3 is ready")
            WebDriverWait(colleague, 10).until(lambda d: d.find_element(By.ID, "typing").text == "Someone is typing…")
            driver.find_element(By.CSS_SELECTOR, "#message-form button").click()
            WebDriverWait(colleague, 10).until(lambda d: "Patient in room 3 is ready" in d.find_element(By.ID, "messages").text)
            colleague.find_element(By.ID, "message-body").send_keys("On my way")
            colleague.find_element(By.CSS_SELECTOR, "#message-form button").click()
            WebDriverWait(driver, 10).until(lambda d: "On my way" in d.find_element(By.ID, "messages").text)
            assert driver.find_element(By.ID, "messages").text.split("\n") == ["Patient in room 3 is ready", "On my way"]
            assert problems(colleague) == ([], 0, None) and problems(driver) == ([], 0, None)

            # A file uploaded in one browser, shared with the organization, is listed in the other; its share
            # link serves it to anyone holding it.
            document = workdir / "price-list.csv"
            document.write_text("item,price\nsetup,490\n")
            driver.get(server.url + "/app/files")
            driver.find_element(By.ID, "upload-file").send_keys(str(document))
            Select(driver.find_element(By.ID, "upload-visibility")).select_by_value("tenant")
            driver.find_element(By.CSS_SELECTOR, "#upload-form button").click()
            WebDriverWait(driver, 10, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(
                lambda d: "price-list.csv" in d.find_element(By.ID, "file-list").text)
            colleague.get(server.url + "/app/files")
            assert "price-list.csv" in colleague.find_element(By.ID, "file-list").text
            driver.find_element(By.CSS_SELECTOR, "button.share-file").click()
            WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "share-url").get_attribute("value"))
            link = driver.find_element(By.ID, "share-url").get_attribute("value")
            shared = requests.get(link, timeout=10)
            assert shared.status_code == 200 and shared.text == "item,price\nsetup,490\n"
            assert problems(colleague) == ([], 0, None) and problems(driver) == ([], 0, None)
        finally:
            colleague.quit()
        driver.get(server.url + "/app/team")
        assert "colleague@clinic.example" in driver.find_element(By.ID, "members").text
    finally:
        driver.quit()
