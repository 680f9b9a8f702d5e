"""The account pages as a person uses them, in headless Chromium: signing up and confirming the address, a
forgotten password, the devices page ending another browser's session, a tab left idle past its access token, and
the privacy page. Each journey is its own test."""
import subprocess
import time
from urllib.parse import parse_qs, urlparse

import pyotp
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from helpers import (accessibility_problems, browser, browser_until, csrf_session, mails_to, problems, register, scrolls_sideways,
                     step, wait_for_mail, wait_until)

PASSWORD = "correct horse battery staple"


def fill(driver, form_id, values):
    for name, value in values.items():
        field = driver.find_element(By.CSS_SELECTOR, f"#{form_id} [name='{name}']")
        field.clear()
        field.send_keys(value)
    driver.find_element(By.CSS_SELECTOR, f"#{form_id} button[type=submit]").click()


def sign_in(driver, server, email, password=PASSWORD, next_path=None):
    driver.get(server.url + "/account/sign-in" + (f"?next={next_path}" if next_path else ""))
    fill(driver, "signin-form", {"email": email, "password": password})


def signed_in_browser(server, email, path, password=PASSWORD):
    """A browser signed in through the sign-in page and shown `path`; the caller quits it."""
    driver = browser()
    sign_in(driver, server, email, password, next_path=path)
    browser_until(driver, at(path), 15)
    return driver


def signed_in_elsewhere(server, email, **headers):
    """Another device's session (a cookie-carrying client with `headers`), signed in with the password."""
    session = csrf_session(server, **headers)
    answer = session.post(server.url + "/api/auth/login", json={"email": email, "password": PASSWORD, "useCookies": True}, timeout=30)
    assert answer.status_code == 200, answer.text
    return session


def notice(form_id, kind=None):
    """A wait condition: the form's notice says something (of `kind`, "success" or "error", when given)."""
    def said(driver):
        element = driver.find_element(By.CSS_SELECTOR, f"#{form_id} .notice")
        return element.text and (kind is None or kind in element.get_attribute("class").split())
    return said


def at(path):
    """A wait condition: the browser shows `path` (the sign-in page's `?next=` must not count), loaded: the address
    changes before the new document replaces the old one, and an element found in between belongs to neither."""
    return lambda driver: urlparse(driver.current_url).path == path and driver.execute_script("return document.readyState") == "complete"


def assert_clean(driver):
    assert problems(driver) == ([], 0, None)


def test_sign_up_confirm_and_land_in_onboarding(workdir, serve):
    server = serve()
    driver = browser()
    try:
        with step("the sign-up form is reachable by keyboard, field after field, in reading order"):
            driver.get(server.url + "/account/sign-up")
            driver.find_element(By.ID, "name").click()
            order = []
            for _ in range(4):
                order.append(driver.switch_to.active_element.get_attribute("id"))
                driver.switch_to.active_element.send_keys(Keys.TAB)
            assert order == ["name", "company", "email", "password"]

        with step("a weak password gets the server's reason beside the field, and what was typed stays"):
            fill(driver, "signup-form", {"name": "Ada Lovelace", "company": "Analytical Engines", "email": "ada@engines.example",
                                         "password": "password123"})
            error = browser_until(driver, lambda d: d.find_element(By.ID, "password-error").text)
            assert "common" in error.lower() or "guess" in error.lower(), error
            assert driver.find_element(By.ID, "password").get_attribute("aria-invalid") == "true"
            assert driver.find_element(By.ID, "email").get_attribute("value") == "ada@engines.example"
            # Chromium logs the refused request (400) as a console error: expected here, not a page problem.
            driver.get_log("browser")

        with step("the rules tick as the password meets them; a good one is accepted and the page says to check mail"):
            field = driver.find_element(By.ID, "password")
            field.clear()
            field.send_keys(PASSWORD)
            assert "met" in driver.find_element(By.CSS_SELECTOR, "[data-rule=length]").get_attribute("class")
            driver.find_element(By.CSS_SELECTOR, "#signup-form button[type=submit]").click()
            browser_until(driver, lambda d: d.find_element(By.ID, "signup-done").is_displayed())

        with step("the mailed link confirms the address and signs the browser in, straight to onboarding"):
            link = wait_for_mail(workdir, "/account/verify-email#token=", to="ada@engines.example")
            driver.get(server.url + "/account/verify-email#token=" + link.split("#token=")[1])
            driver.find_element(By.CSS_SELECTOR, "#link-form button[type=submit]").click()
            browser_until(driver, at("/app/onboarding"), 15)
            assert_clean(driver)

        with step("the same link again says it no longer works and offers the next step"):
            driver.get(server.url + "/account/verify-email#token=" + link.split("#token=")[1])
            driver.find_element(By.CSS_SELECTOR, "#link-form button[type=submit]").click()
            browser_until(driver, lambda d: d.find_element(By.ID, "link-dead").is_displayed())
            assert driver.find_element(By.CSS_SELECTOR, "#link-dead a[href='/account/forgot-password']")
    finally:
        driver.quit()


def test_forgotten_password_signs_in_here_and_out_everywhere_else(workdir, serve):
    server = serve()
    register(server, "grace@navy.example", PASSWORD, name="Grace")
    elsewhere = signed_in_elsewhere(server, "grace@navy.example")
    assert elsewhere.get(server.url + "/api/auth/me", timeout=5).status_code == 200
    driver = browser()
    try:
        with step("forgot password: the page never says whether the address has an account"):
            driver.get(server.url + "/account/sign-in")
            driver.find_element(By.LINK_TEXT, "Forgot your password?").click()
            fill(driver, "forgot-form", {"email": "grace@navy.example"})
            browser_until(driver, lambda d: d.find_element(By.ID, "forgot-done").is_displayed())

        with step("the reset page sets the new password and signs this browser in"):
            link = wait_for_mail(workdir, "/account/reset-password#token=", to="grace@navy.example")
            driver.get(server.url + "/account/reset-password#token=" + link.split("#token=")[1])
            fill(driver, "link-form", {"password": "a brand new passphrase here"})
            browser_until(driver, at("/app/onboarding"), 15)
            assert_clean(driver)

        with step("the other device is signed out"):
            assert elsewhere.get(server.url + "/api/auth/me", timeout=5).status_code == 401
    finally:
        driver.quit()


def test_devices_page_signs_another_browser_out(workdir, serve):
    server = serve()
    register(server, "linus@kernel.example", PASSWORD, name="Linus")
    mine, other = browser(), browser()
    try:
        with step("two browsers sign in; the devices page lists both and marks this one"):
            sign_in(other, server, "linus@kernel.example", next_path="/account/settings")
            browser_until(other, at("/account/settings"), 15)
            sign_in(mine, server, "linus@kernel.example", next_path="/account/devices")
            browser_until(mine, at("/account/devices"), 15)
            rows = browser_until(mine, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#devices tbody tr")) == 2
                                 and d.find_elements(By.CSS_SELECTOR, "#devices tbody tr"))
            assert sum("This device" in row.text for row in rows) == 1
            # Dates are shown in the reader's words, not as ISO text.
            assert "T" not in mine.find_element(By.CSS_SELECTOR, "#devices time").text
            assert_clean(mine)

        with step("signing the other one out ends its session: its next page is the sign-in page"):
            mine.find_element(By.CSS_SELECTOR, "button.revoke-device").click()
            browser_until(mine, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#devices tbody tr")) == 1)
            other.get(server.url + "/account/settings")
            browser_until(other, lambda d: "/account/sign-in" in d.current_url, 15)

        with step("two more sign-ins elsewhere; 'sign out all other devices' ends both and keeps this one"):
            elsewhere = [signed_in_elsewhere(server, "linus@kernel.example", **{"User-Agent": agent})
                         for agent in ("curl/8.5.0", "okhttp/4.12.0")]
            mine.get(server.url + "/account/devices")
            browser_until(mine, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#devices tbody tr")) == 3)
            mine.find_element(By.ID, "revoke-others").click()
            browser_until(mine, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#devices tbody tr")) == 1)
            assert all(session.get(server.url + "/api/auth/me", timeout=5).status_code == 401 for session in elsewhere)
            mine.get(server.url + "/account/devices")
            assert at("/account/devices")(mine)
            assert_clean(mine)
    finally:
        mine.quit()
        other.quit()


def test_a_tab_idle_past_its_access_token_still_works(workdir, serve):
    server = serve(ACCESS_TOKEN_SECONDS="30")
    register(server, "barbara@liskov.example", PASSWORD, name="Barbara")
    driver = browser()
    try:
        with step("two tabs are signed in"):
            sign_in(driver, server, "barbara@liskov.example", next_path="/account/settings")
            browser_until(driver, at("/account/settings"), 15)
            first = driver.current_window_handle
            driver.switch_to.new_window("tab")
            driver.get(server.url + "/account/settings")

        with step("both stay idle past the token's 30 s, then save: no sign-in asked, the session alive"):
            time.sleep(45)
            for handle in (first, driver.current_window_handle):
                driver.switch_to.window(handle)
                assert at("/account/settings")(driver), driver.current_url
                fill(driver, "profile-form", {"displayName": "Barbara L."})
                browser_until(driver, notice("profile-form", "success"))
            driver.get(server.url + "/account/devices")
            assert at("/account/devices")(driver)
            assert len(driver.find_elements(By.CSS_SELECTOR, "#devices tbody tr")) == 1
            assert_clean(driver)
    finally:
        driver.quit()


def test_a_page_opened_after_the_access_token_ran_out_needs_no_password(workdir, serve):
    server = serve(ACCESS_TOKEN_SECONDS="30")
    register(server, "ken@thompson.example", PASSWORD, name="Ken")
    driver = signed_in_browser(server, "ken@thompson.example", "/account/settings")

    def away_then_open(path, sign_in_page):
        """No Flux page open past the token's life and its 30 s of leeway, then `path`: the guard sends the browser
        to `sign_in_page`, which renews from the refresh cookie and goes on without the password."""
        driver.get("about:blank")
        time.sleep(65)
        driver.get(server.url + path)
        browser_until(driver, at(path), 15)
        assert f'"path":"{sign_in_page}"' in server.log_text()
        assert_clean(driver)

    try:
        with step("a bookmark of an account page opens signed in"):
            away_then_open("/account/devices", "/account/sign-in")
        with step("a portal page does the same through the portal's sign-in page"):
            away_then_open("/app/team", "/app/sign-in")
        with step("signed out, the sign-in page asks for the password as before"):
            driver.find_element(By.ID, "sign-out").click()
            browser_until(driver, at("/app/sign-in"))
            driver.get(server.url + "/account/settings")
            browser_until(driver, at("/account/sign-in"))
            time.sleep(1)
            assert at("/account/sign-in")(driver)
            assert_clean(driver)
    finally:
        driver.quit()


def test_privacy_page_exports_and_deletes_the_account(workdir, serve):
    server = serve()
    register(server, "alan@turing.example", PASSWORD, name="Alan")
    driver = signed_in_browser(server, "alan@turing.example", "/account/privacy")
    try:
        with step("the export link gives the account's data"):
            href = driver.find_element(By.CSS_SELECTOR, "a[href='/api/account/export']").get_attribute("href")
            cookies = {cookie["name"]: cookie["value"] for cookie in driver.get_cookies()}
            exported = csrf_session(server).get(href, cookies=cookies, timeout=10)
            assert exported.status_code == 200 and "alan@turing.example" in exported.text

        with step("deleting needs the password and the address typed again; a wrong address is refused beside the field"):
            fill(driver, "delete-form", {"password": PASSWORD, "email": "someone@else.example"})
            browser_until(driver, notice("delete-form"))
            assert driver.find_element(By.ID, "delete-password").get_attribute("value") == PASSWORD
            driver.get_log("browser")
            fill(driver, "delete-form", {"password": PASSWORD, "email": "alan@turing.example"})
            browser_until(driver, lambda d: d.find_element(By.ID, "deleted").is_displayed())
            assert_clean(driver)
        assert csrf_session(server).post(server.url + "/api/auth/login", json={"email": "alan@turing.example", "password": PASSWORD},
                                         timeout=30).status_code == 401
    finally:
        driver.quit()


def test_changing_the_email_address_confirms_the_new_one_and_tells_the_old(workdir, serve):
    server = serve()
    register(server, "katherine@nasa.example", PASSWORD, name="Katherine")
    driver = signed_in_browser(server, "katherine@nasa.example", "/account/settings")
    try:
        with step("a wrong password is refused beside its field and the new address stays typed"):
            fill(driver, "email-form", {"newEmail": "kj@orbit.example", "password": "not the password"})
            browser_until(driver, notice("email-form"))
            assert driver.find_element(By.ID, "newEmail").get_attribute("value") == "kj@orbit.example"
            driver.get_log("browser")
        with step("with the password, a link goes to the new address; nothing changes until it is opened"):
            fill(driver, "email-form", {"newEmail": "kj@orbit.example", "password": PASSWORD})
            browser_until(driver, notice("email-form", "success"))
            link = wait_for_mail(workdir, "/account/confirm-email#token=", to="kj@orbit.example")
        with step("opening it moves the account to the new address and tells the old one"):
            driver.get(server.url + "/account/confirm-email#" + link.split("#", 1)[1])
            driver.find_element(By.CSS_SELECTOR, "#link-form button[type=submit]").click()
            browser_until(driver, lambda d: d.find_element(By.ID, "link-done").is_displayed())
            assert_clean(driver)
            assert "kj@orbit.example" in wait_for_mail(workdir, "instead of this one", to="katherine@nasa.example")
            assert csrf_session(server).post(server.url + "/api/auth/login", json={"email": "kj@orbit.example", "password": PASSWORD},
                                             timeout=30).status_code == 200
    finally:
        driver.quit()


def next_code(secret):
    """The authenticator's code of the next 30-second period: a code once used is refused again (no replay), so a
    journey that spends codes in a row waits for a fresh one."""
    time.sleep(30 - time.time() % 30 + 0.5)
    return pyotp.TOTP(secret).now()


def scan(png_path):
    """What a QR reader finds in the picture: zbar's decoder on the pixels the browser drew."""
    decoded = subprocess.run(["zbarimg", "--quiet", "--raw", str(png_path)], capture_output=True, text=True, timeout=30)
    assert decoded.returncode == 0, decoded.stderr
    return decoded.stdout.strip()


def test_authenticator_set_up_by_scanning_the_qr_code_then_codes_and_recovery_codes_sign_in(workdir, serve, tmp_path):
    server = serve()
    register(server, "margaret@hamilton.example", PASSWORD, name="Margaret")
    driver = signed_in_browser(server, "margaret@hamilton.example", "/account/settings")
    try:
        with step("setting up asks for the password, then shows a QR code that a real decoder reads as the otpauth URI"):
            fill(driver, "mfa-setup-form", {"password": PASSWORD})
            image = browser_until(driver, lambda d: d.find_element(By.ID, "mfa-qr").get_attribute("naturalWidth") not in (None, "0")
                                  and d.find_element(By.ID, "mfa-qr"))
            picture = tmp_path / "qr.png"
            picture.write_bytes(image.screenshot_as_png)
            uri = scan(picture)
            assert uri.startswith("otpauth://totp/Flux:margaret@hamilton.example?"), uri
            secret = parse_qs(urlparse(uri).query)["secret"][0]
            assert secret == driver.find_element(By.ID, "mfa-secret").text

        with step("a wrong code is refused beside the field; the phone's code turns it on and shows recovery codes once"):
            fill(driver, "mfa-confirm-form", {"code": "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"})
            browser_until(driver, notice("mfa-confirm-form"))
            driver.get_log("browser")
            fill(driver, "mfa-confirm-form", {"code": pyotp.TOTP(secret).now()})
            browser_until(driver, lambda d: d.find_element(By.ID, "recovery").is_displayed())
            codes = [item.text for item in driver.find_elements(By.CSS_SELECTOR, "#recovery-codes li")]
            assert len(codes) == 10
            assert driver.find_element(By.ID, "recovery-download").get_attribute("href").startswith("blob:")
            assert_clean(driver)

        with step("signed out, the next sign-in asks for a code, and the phone's code signs in"):
            driver.get(server.url + "/account/settings")
            driver.find_element(By.ID, "sign-out").click()
            browser_until(driver, at("/account/sign-in"))
            sign_in(driver, server, "margaret@hamilton.example", next_path="/account/devices")
            browser_until(driver, lambda d: d.find_element(By.ID, "code-form").is_displayed())
            fill(driver, "code-form", {"code": next_code(secret)})
            browser_until(driver, at("/account/devices"), 15)

        with step("with the phone lost, a recovery code signs in instead"):
            driver.find_element(By.ID, "sign-out").click()
            browser_until(driver, at("/account/sign-in"))
            sign_in(driver, server, "margaret@hamilton.example", next_path="/account/settings")
            browser_until(driver, lambda d: d.find_element(By.ID, "code-form").is_displayed())
            driver.find_element(By.ID, "use-recovery").click()
            assert driver.find_element(By.ID, "code-label").text == "Recovery code"
            fill(driver, "code-form", {"code": codes[0]})
            browser_until(driver, at("/account/settings"), 15)
            assert_clean(driver)

        with step("turning it off needs the password and a code; then sign-in asks for the password only"):
            fill(driver, "mfa-disable-form", {"password": PASSWORD, "code": next_code(secret)})
            browser_until(driver, lambda d: d.find_elements(By.ID, "mfa-setup-form"))
            assert csrf_session(server).post(server.url + "/api/auth/login", timeout=30, json={
                "email": "margaret@hamilton.example", "password": PASSWORD}).json().get("challenge") is None
    finally:
        driver.quit()


def test_every_account_page_is_labelled_and_fits_a_phone(workdir, serve):
    server = serve()
    register(server, "tim@web.example", PASSWORD, name="Tim")
    driver = browser()
    try:
        public = ["/account/sign-in", "/account/sign-up", "/account/forgot-password", "/account/reset-password#token=x",
                  "/account/verify-email#token=x", "/account/confirm-email#token=x&email=a%40b.example"]
        signed_in = ["/account/settings", "/account/devices", "/account/privacy", "/account/settings?lang=de"]
        for path in public + ["sign in"] + signed_in:
            if path == "sign in":
                sign_in(driver, server, "tim@web.example", next_path="/account/settings")
                browser_until(driver, at("/account/settings"), 15)
                continue
            for width in (1280, 375):
                with step(f"{path} at {width} px: no accessibility violation, no sideways scrolling"):
                    driver.set_window_size(width, 900)
                    driver.get(server.url + path)
                    browser_until(driver, lambda d: d.execute_script("return document.readyState") == "complete")
                    assert accessibility_problems(driver) == []
                    assert not scrolls_sideways(driver)
                    assert_clean(driver)
    finally:
        driver.quit()


def test_settings_change_the_password_and_resend_the_confirmation_link(workdir, serve):
    server = serve()
    register(server, "edsger@dijkstra.example", PASSWORD, name="Edsger")
    other = signed_in_elsewhere(server, "edsger@dijkstra.example")
    driver = signed_in_browser(server, "edsger@dijkstra.example", "/account/settings")
    try:
        with step("an unconfirmed address gets a new confirmation link on request"):
            driver.find_element(By.ID, "resend-verification").click()
            browser_until(driver, notice("profile-form", "success"))
            wait_until(lambda: len(mails_to(workdir, "edsger@dijkstra.example", "/account/verify-email#token=")) == 2)
        with step("a wrong current password is refused beside its field; the right one changes it and signs out the others"):
            fill(driver, "password-form", {"currentPassword": "not my password", "newPassword": "another long passphrase"})
            browser_until(driver, notice("password-form"))
            driver.get_log("browser")
            fill(driver, "password-form", {"currentPassword": PASSWORD, "newPassword": "another long passphrase"})
            browser_until(driver, notice("password-form", "success"))
            assert other.get(server.url + "/api/auth/me", timeout=5).status_code == 401
            driver.get(server.url + "/account/devices")
            assert at("/account/devices")(driver)
            assert_clean(driver)
    finally:
        driver.quit()
