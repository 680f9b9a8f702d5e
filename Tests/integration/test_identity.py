"""Identity on the real binary: the one-time staff setup link logged at boot, `flux create-admin` (password
from standard input, never the command line), and TOTP enrolment and sign-in with codes from pyotp."""
import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import pyotp
import requests
from selenium.webdriver.common.by import By

from helpers import (browser, browser_until, clean_env, csp_violations, csrf_session, login, register, run_flux,
                     wait_for_mail)

PASSWORD = "operator passphrase 2026"


def enrol_and_sign_in(server, signed_in):
    """Owners and admins must enrol a second factor at their first sign-in: set up TOTP with the challenge,
    confirm with a code pyotp computes from the secret Flux handed out, and get the tokens."""
    body = signed_in.json()
    assert body["enrollmentRequired"] is True and "accessToken" not in body
    setup = csrf_session(server).post(server.url + "/api/auth/mfa/totp/setup", json={"challenge": body["challenge"]}, timeout=10)
    assert setup.status_code == 200, setup.text
    totp = pyotp.parse_uri(setup.json()["otpauthUri"])
    assert totp.secret == setup.json()["secret"] and totp.digits == 6 and totp.interval == 30
    confirmed = csrf_session(server).post(server.url + "/api/auth/mfa/totp/confirm", timeout=10,
                                          json={"challenge": body["challenge"], "code": totp.now()})
    assert confirmed.status_code == 200, confirmed.text
    assert len(confirmed.json()["recoveryCodes"]) == 10
    return confirmed.json()["accessToken"], totp


def setup_links(server):
    return [entry["setupLink"] for entry in server.log_entries() if "setupLink" in entry]


def test_setup_link_creates_the_owner_once(workdir, serve):
    server = serve()
    links = setup_links(server)
    assert len(links) == 1 and links[0].startswith(server.url + "/hq-command/setup#token=")
    token = links[0].split("#token=", 1)[1]

    created = csrf_session(server).post(server.url + "/api/auth/setup", timeout=10,
                                        json={"token": token, "email": "Owner@Example.com", "password": PASSWORD})
    assert created.status_code == 201, created.text
    again = csrf_session(server).post(server.url + "/api/auth/setup", timeout=10,
                                      json={"token": token, "email": "second@example.com", "password": PASSWORD})
    assert again.status_code == 403 and again.json()["error"]["code"] == "invalid_setup_token"

    signed_in = login(server, "owner@example.com", PASSWORD)
    assert signed_in.status_code == 200
    access, totp = enrol_and_sign_in(server, signed_in)
    me = requests.get(server.url + "/api/auth/me", timeout=5, headers={"Authorization": "Bearer " + access})
    assert me.json()["role"] == "owner"

    # With staff present, the next boot logs no link.
    server.stop()
    restarted = serve(env=server.env)
    assert setup_links(restarted) == []


def test_create_admin_reads_the_password_from_stdin(workdir, serve):
    env = clean_env()
    done = run_flux(["create-admin", "--email", "ops@example.com", "--role", "admin"], env, workdir, input=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    assert "Created admin ops@example.com" in done.stdout
    assert PASSWORD not in done.stdout + done.stderr

    weak = run_flux(["create-admin", "--email", "weak@example.com"], env, workdir, input="qwertyuiop\n")
    assert weak.returncode == 1
    assert "too common" in weak.stdout + weak.stderr

    taken = run_flux(["create-admin", "--email", "ops@example.com"], env, workdir, input=PASSWORD + "\n")
    assert taken.returncode == 1

    server = serve(env=env)
    assert setup_links(server) == []
    signed_in = login(server, "ops@example.com", PASSWORD)
    assert signed_in.status_code == 200
    access, _ = enrol_and_sign_in(server, signed_in)
    me = requests.get(server.url + "/api/auth/me", timeout=5, headers={"Authorization": "Bearer " + access})
    assert me.json()["role"] == "admin" and me.json()["tenant"]["kind"] == "operator"


def test_pyotp_codes_complete_a_sign_in_and_a_replayed_code_is_refused(workdir, serve):
    env = clean_env()
    created = run_flux(["create-admin", "--email", "mfa@example.com", "--role", "owner"], env, workdir, input=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    server = serve(env=env)
    _, totp = enrol_and_sign_in(server, login(server, "mfa@example.com", PASSWORD))
    challenge = login(server, "mfa@example.com", PASSWORD).json()
    assert challenge["mfaRequired"] is True
    # The code that confirmed enrolment is spent; the next window's code (pyotp's, 30 s on) passes once.
    code = totp.at(time.time() + 30)
    verified = csrf_session(server).post(server.url + "/api/auth/mfa/verify", timeout=10,
                                         json={"challenge": challenge["challenge"], "code": code})
    assert verified.status_code == 200, verified.text
    again = login(server, "mfa@example.com", PASSWORD).json()
    replayed = csrf_session(server).post(server.url + "/api/auth/mfa/verify", timeout=10,
                                         json={"challenge": again["challenge"], "code": code})
    assert replayed.status_code == 401 and replayed.json()["error"]["code"] == "invalid_code"


def fill_in_browser(link, values):
    """Opens `link` in headless Chromium, types `values` into the inputs with those ids, submits, and returns what
    the page then shows: the text it says when done, or the path it moved on to when the link signed the browser in.
    The script only runs if the strict CSP allows it (its nonce)."""
    driver = browser()
    try:
        driver.get(link)
        for element_id, value in values.items():
            driver.find_element(By.ID, element_id).send_keys(value)
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        def shown(d):
            done = d.find_elements(By.ID, "link-done")
            if done and done[0].is_displayed():
                return done[0].text
            path = urlparse(d.current_url).path
            return path if path != urlparse(link).path else None
        outcome = browser_until(driver, shown, 15)
        assert "#token=" not in driver.current_url
        assert csp_violations(driver) == []
        return outcome
    finally:
        driver.quit()


def test_setup_page_creates_the_owner_in_a_real_browser(workdir, serve):
    server = serve()
    status = fill_in_browser(setup_links(server)[0], {"email": "browser-owner@example.com", "password": PASSWORD})
    assert "owner account exists" in status, status
    assert login(server, "browser-owner@example.com", PASSWORD).status_code == 200


def test_mailed_links_verify_the_email_and_reset_the_password_in_a_real_browser(workdir, serve):
    server = serve()
    register(server, "reader@example.com", PASSWORD)
    verify = wait_for_mail(workdir, "/account/verify-email#token=")
    assert verify.startswith(server.url + "/account/verify-email#token=")
    # The link proves the address and, the account having no second factor, signs the browser in.
    assert fill_in_browser(verify, {}) == "/app/onboarding"

    forgot = csrf_session(server).post(server.url + "/api/auth/password/forgot", json={"email": "reader@example.com"}, timeout=10)
    assert forgot.status_code == 202
    reset = wait_for_mail(workdir, "/account/reset-password#token=")
    assert fill_in_browser(reset, {"password": "a password from the browser"}) == "/app/onboarding"
    assert login(server, "reader@example.com", "a password from the browser").status_code == 200
    assert login(server, "reader@example.com", PASSWORD).status_code == 401


def test_sign_ups_succeed_while_other_requests_write(workdir, serve):
    """On SQLite a sign-up reads (is the address taken?) and then writes in one transaction, while each event
    loop has its own connection: a transaction that read first used to fail with "database is locked" when
    another connection had written meanwhile, and the sign-up answered 500."""
    server = serve(TRUSTED_PROXIES="127.0.0.1")
    addresses = (f"10.{n // 62500 % 250}.{n // 250 % 250}.{n % 250}" for n in itertools.count(1))
    lock = threading.Lock()

    def client():
        with lock:
            address = next(addresses)
        return csrf_session(server, **{"X-Forwarded-For": address})

    stop = threading.Event()
    consultations = []

    def write_consultations():
        while not stop.is_set():
            consultations.append(client().post(server.url + "/api/consultation", timeout=10, json={
                "name": "Ada", "company": "Analytical", "email": "ada@example.com", "preferredContact": "email"}).status_code)

    def sign_up(n):
        return client().post(server.url + "/api/auth/register", timeout=30, json={
            "email": f"concurrent-{n}@example.com", "password": PASSWORD, "company": f"Company {n}"}).status_code

    writers = [threading.Thread(target=write_consultations) for _ in range(4)]
    for writer in writers:
        writer.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            sign_ups = list(pool.map(sign_up, range(24)))
    finally:
        stop.set()
        for writer in writers:
            writer.join()
    assert sign_ups == [202] * 24
    assert len(consultations) > 24 and set(consultations) == {201}
    assert not [entry for entry in server.log_entries() if entry["level"] == "error"]
