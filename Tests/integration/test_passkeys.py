"""Passkeys as people use them, in headless Chromium with its virtual authenticator (CTAP2, resident keys, user
verification): adding one from account settings and signing in with it alone; a staff owner using one as the second
step after the password, instead of the authenticator app; removing one; and a page on another origin that tries to
use the credential."""
import time

import pyotp
from selenium.webdriver.common.by import By
from selenium.webdriver.common.virtual_authenticator import VirtualAuthenticatorOptions

from helpers import (FluxServer, accessibility_problems, browser, browser_until, clean_env, console_errors, csrf_session, problems, register,
                     run_flux, scrolls_sideways, step)
from test_account import PASSWORD, at, fill, notice


def passkey_server(workdir, **values):
    """Flux whose PUBLIC_URL is its own http://localhost address: browsers refuse IP addresses as relying parties."""
    server = FluxServer(workdir, clean_env(**values))
    server.url = f"http://localhost:{server.port}"
    server.env["PUBLIC_URL"] = server.url
    return server.start()


def with_authenticator(driver):
    """A platform authenticator that holds discoverable keys and verifies its user (a PIN or a fingerprint)."""
    options = VirtualAuthenticatorOptions()
    options.protocol = VirtualAuthenticatorOptions.Protocol.CTAP2
    options.transport = VirtualAuthenticatorOptions.Transport.INTERNAL
    options.has_resident_key = True
    options.has_user_verification = True
    options.is_user_verified = True
    options.is_user_consenting = True
    driver.add_virtual_authenticator(options)
    return driver


def add_passkey(driver, server, name, password=PASSWORD):
    """Adds a passkey from settings: the passkeys listed after, and the recovery codes shown (with an account's first
    second factor) or None."""
    driver.get(server.url + "/account/settings")
    fill(driver, "passkey-add-form", {"name": name, "password": password})

    def outcome(d):
        if d.find_element(By.ID, "recovery").is_displayed():
            return "codes"
        return "added" if "success" in d.find_element(By.CSS_SELECTOR, "#passkey-add-form .notice").get_attribute("class") else None
    codes = None
    if browser_until(driver, outcome, 15) == "codes":
        codes = [item.text for item in driver.find_elements(By.CSS_SELECTOR, "#recovery-codes li")]
        driver.find_element(By.CSS_SELECTOR, "#recovery a[href='/account/settings']").click()
        browser_until(driver, lambda d: d.find_elements(By.ID, "passkey-list"), 15)
    return driver.find_element(By.ID, "passkey-list").text, codes


def sign_out(driver, server):
    driver.find_element(By.ID, "sign-out").click()
    browser_until(driver, lambda d: "/sign-in" in d.current_url or d.current_url.rstrip("/") == server.url, 15)
    driver.delete_all_cookies()


def test_a_passkey_added_in_settings_signs_in_alone_until_it_is_removed(workdir, tmp_path):
    server = passkey_server(workdir)
    try:
        register(server, "ada@engines.example", PASSWORD, company="Analytical Engines", name="Ada Lovelace")
        driver = with_authenticator(browser())
        try:
            with step("signed in with the password, settings adds a passkey after the password is re-checked"):
                driver.get(server.url + "/account/sign-in?next=/account/settings")
                fill(driver, "signin-form", {"email": "ada@engines.example", "password": PASSWORD})
                browser_until(driver, at("/account/settings"), 15)
                wrong = driver.find_element(By.ID, "passkey-name")
                wrong.send_keys("Work laptop")
                driver.find_element(By.ID, "passkey-password").send_keys("not my password")
                driver.find_element(By.CSS_SELECTOR, "#passkey-add-form button[type=submit]").click()
                assert browser_until(driver, lambda d: d.find_element(By.ID, "passkey-password-error").text or
                                     d.find_element(By.CSS_SELECTOR, "#passkey-add-form .notice").text)
                assert driver.find_element(By.ID, "passkey-name").get_attribute("value") == "Work laptop"
                assert len(driver.get_credentials()) == 0
                # The refused password is the only thing the browser logged.
                assert [entry for entry in console_errors(driver) if "registration/options" not in entry] == []
                listed, codes = add_passkey(driver, server, "Work laptop")
                assert "Work laptop" in listed and "Never" in listed
                assert codes is not None and len(codes) == 10, "the first second factor comes with recovery codes"
                [credential] = driver.get_credentials()
                assert credential.is_resident_credential
                assert problems(driver) == ([], 0, None)
                assert accessibility_problems(driver) == []
                for width in (1280, 375):
                    driver.set_window_size(width, 900)
                    assert not scrolls_sideways(driver), width
                    driver.execute_script("document.getElementById('passkeys').scrollIntoView()")
                    driver.save_screenshot(str(tmp_path / f"passkeys-settings-{width}.png"))

            with step("signed out, the passkey alone signs in: no email, no password"):
                sign_out(driver, server)
                driver.get(server.url + "/account/sign-in?next=/account/settings")
                button = browser_until(driver, lambda d: d.find_element(By.ID, "passkey-signin") if d.find_element(By.ID, "passkey-signin").is_displayed() else None)
                for width in (1280, 375):
                    driver.set_window_size(width, 900)
                    driver.save_screenshot(str(tmp_path / f"passkeys-sign-in-{width}.png"))
                button.click()
                browser_until(driver, at("/account/settings"), 15)
                assert "Ada Lovelace" in driver.page_source
                last_used = driver.find_element(By.ID, "passkey-list").text
                assert "Never" not in last_used

            with step("signed out, the device lost: the password and a recovery code sign in"):
                sign_out(driver, server)
                driver.get(server.url + "/account/sign-in?next=/account/settings")
                fill(driver, "signin-form", {"email": "ada@engines.example", "password": PASSWORD})
                browser_until(driver, lambda d: d.find_element(By.ID, "use-passkey").is_displayed(), 15)
                assert not driver.find_element(By.ID, "code").is_displayed()
                driver.find_element(By.ID, "use-recovery").click()
                driver.find_element(By.ID, "code").send_keys(codes[0])
                driver.find_element(By.CSS_SELECTOR, "#code-form button[type=submit]").click()
                browser_until(driver, at("/account/settings"), 15)

            with step("renamed, then removed with the password; the key then signs in no more"):
                driver.find_element(By.CSS_SELECTOR, "button.rename-passkey").click()
                field = driver.find_element(By.ID, "rename-name")
                field.clear()
                field.send_keys("Old laptop")
                driver.find_element(By.CSS_SELECTOR, "#passkey-rename-form button[type=submit]").click()
                browser_until(driver, lambda d: "Old laptop" in d.find_element(By.ID, "passkey-list").text, 15)
                driver.find_element(By.CSS_SELECTOR, "button.remove-passkey").click()
                assert "Old laptop" in driver.find_element(By.ID, "remove-question").text
                driver.find_element(By.ID, "remove-password").send_keys(PASSWORD)
                driver.find_element(By.CSS_SELECTOR, "#passkey-remove-form button[type=submit]").click()
                browser_until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#passkeys p.empty"), 15)
                sign_out(driver, server)
                driver.get(server.url + "/account/sign-in")
                browser_until(driver, lambda d: d.find_element(By.ID, "passkey-signin").is_displayed())
                driver.find_element(By.ID, "passkey-signin").click()
                message = browser_until(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#signin-form .notice").text, 15)
                assert "could not be verified" in message
                assert "/sign-in" in driver.current_url
        finally:
            driver.quit()
    finally:
        server.stop()


def test_an_owner_uses_a_passkey_instead_of_the_authenticator_app(workdir, tmp_path):
    server = passkey_server(workdir)
    try:
        created = run_flux(["create-admin", "--email", "owner@example.com", "--role", "owner"], server.env, server.cwd, input=PASSWORD + "\n")
        assert created.returncode == 0, created.stderr
        driver = with_authenticator(browser())
        try:
            with step("the first HQ sign-in enrols the authenticator app, as the staff rule requires"):
                driver.get(server.url + "/hq-command")
                driver.find_element(By.ID, "email").send_keys("owner@example.com")
                driver.find_element(By.ID, "password").send_keys(PASSWORD)
                driver.find_element(By.CSS_SELECTOR, "#signin-form button[type=submit]").click()
                secret = browser_until(driver, lambda d: d.find_element(By.ID, "secret").text, 15)
                driver.find_element(By.ID, "code").send_keys(pyotp.TOTP(secret).now())
                driver.find_element(By.CSS_SELECTOR, "#code-form button[type=submit]").click()
                browser_until(driver, lambda d: d.find_element(By.ID, "continue").is_displayed(), 15)
                driver.find_element(By.ID, "continue").click()
                browser_until(driver, at("/hq-command/dashboard"), 15)

            with step("a passkey added, the authenticator app may go: the passkey keeps the rule"):
                _, codes = add_passkey(driver, server, "Office key")
                assert codes is None, "the authenticator's recovery codes stand"
                driver.find_element(By.ID, "disable-password").send_keys(PASSWORD)
                # The enrolment's code is spent; the next time step's is accepted a step early.
                driver.find_element(By.ID, "disable-code").send_keys(pyotp.TOTP(secret).at(time.time() + 30))
                driver.find_element(By.CSS_SELECTOR, "#mfa-disable-form button[type=submit]").click()
                browser_until(driver, lambda d: d.find_elements(By.ID, "mfa-setup-form"), 15)

            with step("the password, then the passkey as the second step, opens HQ"):
                sign_out(driver, server)
                driver.get(server.url + "/hq-command?next=/hq-command/dashboard")
                driver.find_element(By.ID, "email").send_keys("owner@example.com")
                driver.find_element(By.ID, "password").send_keys(PASSWORD)
                driver.find_element(By.CSS_SELECTOR, "#signin-form button[type=submit]").click()
                use = browser_until(driver, lambda d: d.find_element(By.ID, "use-passkey") if d.find_element(By.ID, "use-passkey").is_displayed() else None, 15)
                assert not driver.find_element(By.ID, "code").is_displayed()
                for width in (1280, 375):
                    driver.set_window_size(width, 900)
                    driver.save_screenshot(str(tmp_path / f"passkeys-second-step-{width}.png"))
                use.click()
                browser_until(driver, at("/hq-command/dashboard"), 15)
                assert problems(driver) == ([], 0, None)

            with step("HQ's staff page says which factor each person has"):
                driver.get(server.url + "/hq-command/users")
                assert "Passkey" in browser_until(driver, lambda d: d.find_element(By.TAG_NAME, "main").text)
        finally:
            driver.quit()
    finally:
        server.stop()


def test_a_page_on_another_origin_cannot_use_the_passkey(workdir):
    server = passkey_server(workdir)
    try:
        register(server, "grace@navy.example", PASSWORD, company="Navy", name="Grace Hopper")
        driver = with_authenticator(browser())
        try:
            driver.get(server.url + "/account/sign-in?next=/account/settings")
            fill(driver, "signin-form", {"email": "grace@navy.example", "password": PASSWORD})
            browser_until(driver, at("/account/settings"), 15)
            add_passkey(driver, server, "Laptop")
            sign_out(driver, server)

            with step("the same server under another origin (its IP address): the browser will not use the key there"):
                driver.get(f"http://127.0.0.1:{server.port}/account/sign-in")
                browser_until(driver, lambda d: d.find_element(By.ID, "passkey-signin").is_displayed())
                driver.find_element(By.ID, "passkey-signin").click()
                browser_until(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#signin-form .notice").text, 15)
                assert "/sign-in" in driver.current_url

            with step("a phishing page on another localhost port relays Flux's challenge: the browser signs for its own "
                      "origin, and Flux refuses the answer"):
                phishing = passkey_server(workdir)
                try:
                    victim = csrf_session(server)
                    options = victim.post(server.url + "/api/auth/passkeys/authentication/options", json={}, timeout=30).json()
                    driver.get(phishing.url + "/account/sign-in")
                    credential = driver.execute_async_script("""
                        const [options, done] = arguments;
                        navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) })
                          .then((credential) => done(credential.toJSON()), (error) => done({ error: String(error) }));
                    """, options["publicKey"])
                    assert "error" not in credential, credential
                    relayed = victim.post(server.url + "/api/auth/passkeys/authentication",
                                          json={"challengeId": options["challengeId"], "credential": credential}, timeout=30)
                    assert relayed.status_code == 401, relayed.text
                    assert relayed.json()["error"]["code"] == "passkey_failed"
                finally:
                    phishing.stop()
        finally:
            driver.quit()
    finally:
        server.stop()
