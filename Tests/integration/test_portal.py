"""The client portal in headless Chromium: a client registered through the API signs in at /app/sign-in,
is sent to onboarding, requests its setup from the page, and sees its status; once staff provision it and its
worker reports in with a scoped API key, the status page shows the organization active and the worker running.
Then the admin invites a colleague from the team page, and the colleague accepts the mailed link in a second
browser and signs in; the admin opens a channel, and messages typed in one browser arrive live in the other;
a file the admin uploads and shares with the organization appears in the colleague's list, and its share link
works."""
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from helpers import browser, browser_until, login, problems, register, run_flux, step, wait_for_mail

PASSWORD = "client passphrase 2026"
COLLEAGUE_PASSWORD = "colleague passphrase 2026"
CLEAN = ([], 0, None)


def sign_in(driver, email, password):
    """The portal's sign-in form, on the page the driver is at."""
    driver.find_element(By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "#signin-form button").click()


def provision(server, workdir, driver):
    """What staff and the worker do outside the browser: an engineer approves and provisions the organization's
    setup request and issues a heartbeat-scoped key, and its worker reports in with it."""
    engineer_password = "engineer passphrase 2026"
    created = run_flux(["create-admin", "--email", "eng@example.com", "--role", "engineer"], server.env, workdir,
                       input=engineer_password + "\n")
    assert created.returncode == 0, created.stderr
    token = login(server, "eng@example.com", engineer_password).json()["accessToken"]
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


def test_onboarding_to_a_running_service_in_a_real_browser(workdir, serve):
    server = serve()
    with step("the owner registers through the API and proves the address"):
        visitor = register(server, "owner@clinic.example", PASSWORD, name="Dr Who", company="Clinica Roma")
        # Inviting colleagues needs a proven address.
        token = wait_for_mail(workdir, "/account/verify-email#token=").split("#token=")[1]
        assert visitor.post(server.url + "/api/auth/email/verify", json={"token": token}, timeout=10).status_code == 204

    driver = browser()
    try:
        with step("the owner signs in and is sent to onboarding"):
            driver.get(server.url + "/app/status")
            browser_until(driver, lambda d: "/app/sign-in" in d.current_url)
            sign_in(driver, "owner@clinic.example", PASSWORD)
            # The status page was asked for, but a client without a setup request belongs in onboarding.
            browser_until(driver, lambda d: d.current_url.endswith("/app/status"), 15)
            driver.get(server.url + "/app")
            browser_until(driver, lambda d: d.current_url.endswith("/app/onboarding"))

        with step("the owner requests the setup and sees it pending"):
            Select(driver.find_element(By.ID, "templateType")).select_by_visible_text("clinic")
            driver.find_element(By.ID, "contactNumber").send_keys("+39 06 1234567")
            driver.find_element(By.CSS_SELECTOR, "#setup-form button").click()
            browser_until(driver, lambda d: d.current_url.endswith("/app/status") and "waiting for review" in d.find_element(By.ID, "tenant-status").text, 15)
            assert problems(driver) == CLEAN

        with step("staff provision the organization and its worker reports in"):
            provision(server, workdir, driver)

        with step("the status page shows the organization active and its worker running"):
            driver.get(server.url + "/app/status")
            facts = driver.find_element(By.ID, "tenant-status").text
            assert "Active" in facts and "set up and running" in facts
            assert Select(driver.find_element(By.ID, "config-template")).first_selected_option.text == "Clinic"
            assert "whatsapp-bridge" in driver.find_element(By.ID, "worker-list").text
            assert problems(driver) == CLEAN

        with step("the owner invites a colleague from the team page"):
            driver.get(server.url + "/app/team")
            driver.find_element(By.ID, "invite-email").send_keys("colleague@clinic.example")
            driver.find_element(By.CSS_SELECTOR, "#invite-form button").click()
            browser_until(driver, lambda d: "colleague@clinic.example" in d.find_element(By.ID, "invitations").text)
            link = wait_for_mail(workdir, "/app/accept-invitation#invitation=")
        colleague = browser()
        try:
            with step("the colleague accepts the mailed invitation in a second browser and signs in"):
                colleague.get(link)
                colleague.find_element(By.ID, "name").send_keys("Nurse Joy")
                colleague.find_element(By.ID, "password").send_keys(COLLEAGUE_PASSWORD)
                colleague.find_element(By.CSS_SELECTOR, "#accept-form button").click()
                browser_until(colleague, lambda d: d.find_element(By.ID, "accepted").is_displayed())
                assert "token" not in colleague.current_url
                colleague.find_element(By.CSS_SELECTOR, "#accepted a").click()
                browser_until(colleague, lambda d: d.current_url.endswith("/app/sign-in") and d.find_element(By.ID, "signin-form"))
                sign_in(colleague, "colleague@clinic.example", COLLEAGUE_PASSWORD)
                browser_until(colleague, lambda d: d.current_url.endswith("/app/status"), 15)
                assert problems(colleague) == CLEAN

            with step("the same invitation link again says it no longer works and what to do"):
                colleague.get(link)
                colleague.find_element(By.CSS_SELECTOR, "#accept-form button").click()
                browser_until(colleague, lambda d: d.find_element(By.ID, "accept-dead").is_displayed())
                colleague.get_log("browser")

            with step("both browsers join a new channel live, with presence"):
                driver.get(server.url + "/app/messages")
                driver.find_element(By.ID, "channel-title").send_keys("Front desk")
                driver.find_element(By.CSS_SELECTOR, "#channel-form button").click()
                live = lambda d: d.find_element(By.ID, "chat").get_attribute("data-state") == "live"
                browser_until(driver, lambda d: "thread=" in d.current_url and live(d), 15)
                colleague.get(driver.current_url)
                browser_until(colleague, live, 15)
                browser_until(driver, lambda d: d.find_element(By.ID, "presence").text == "1 other online")

            with step("messages typed in one browser appear in the other without a reload"):
                driver.find_element(By.ID, "message-body").send_keys("Patient in room 3 is ready")
                browser_until(colleague, lambda d: d.find_element(By.ID, "typing").text == "Someone is typing…")
                driver.find_element(By.CSS_SELECTOR, "#message-form button").click()
                browser_until(colleague, lambda d: "Patient in room 3 is ready" in d.find_element(By.ID, "messages").text)
                colleague.find_element(By.ID, "message-body").send_keys("On my way")
                colleague.find_element(By.CSS_SELECTOR, "#message-form button").click()
                browser_until(driver, lambda d: "On my way" in d.find_element(By.ID, "messages").text)
                # Each message shows its sender, time and actions too: compare the texts alone.
                assert [m.text for m in driver.find_elements(By.CSS_SELECTOR, "#messages .body")] == ["Patient in room 3 is ready", "On my way"]
                assert problems(colleague) == CLEAN and problems(driver) == CLEAN

            with step("a file shared with the organization is listed for the colleague and its share link serves it"):
                document = workdir / "price-list.csv"
                document.write_text("item,price\nsetup,490\n")
                driver.get(server.url + "/app/files")
                driver.find_element(By.ID, "upload-file").send_keys(str(document))
                Select(driver.find_element(By.ID, "upload-visibility")).select_by_value("tenant")
                driver.find_element(By.CSS_SELECTOR, "#upload-form button").click()
                browser_until(driver, lambda d: "price-list.csv" in d.find_element(By.ID, "file-list").text)
                colleague.get(server.url + "/app/files")
                assert "price-list.csv" in colleague.find_element(By.ID, "file-list").text
                driver.find_element(By.CSS_SELECTOR, "button.share-file").click()
                driver.find_element(By.CSS_SELECTOR, "#share-form button[type=submit]").click()
                browser_until(driver, lambda d: d.find_element(By.ID, "share-url").get_attribute("value"))
                shared = requests.get(driver.find_element(By.ID, "share-url").get_attribute("value"), timeout=10)
                assert shared.status_code == 200 and shared.text == "item,price\nsetup,490\n"
                assert problems(colleague) == CLEAN and problems(driver) == CLEAN
        finally:
            colleague.quit()
        with step("the team page lists the colleague as a member"):
            driver.get(server.url + "/app/team")
            assert "colleague@clinic.example" in driver.find_element(By.ID, "members").text
    finally:
        driver.quit()
