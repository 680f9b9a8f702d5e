"""Sign-in with Google and with Apple (OpenID Connect code flow with PKCE) end to end against a local provider
with real RSA keys, made to behave like Apple's for Apple (form_post, ES256 client secrets): new and returning
accounts, key rotation mid-test, every token or callback that must be refused, and the browser journeys from the
portal's and the account sign-in pages."""
import time
import urllib.parse

import jwt
import pytest
import requests
from oidc_provider import APPLE_KEY_ID, APPLE_TEAM_ID, new_client_key, pkcs8_pem
from selenium.webdriver.common.by import By

from helpers import (apple_authorize, apple_sign_in, browser, browser_until, clean_env, csp_violations, csrf_session,
                     google_sign_in, hidden_fields, login, me, problems, register, run_flux, wait_for_mail)


def test_new_then_returning_account_and_key_rotation(flux, provider):
    browser, callback = google_sign_in(flux, return_to="/welcome")
    assert callback.status_code == 303, callback.text
    # A new organization goes to onboarding until it has a setup request, whatever it asked for.
    assert callback.headers["Location"] == "/app/onboarding"
    assert me(flux, browser).json()["email"] == "oidc-user@example.com"
    assert me(flux, browser).json()["role"] == "client_admin"
    assert me(flux, browser).json()["hasSetupRequest"] is False
    token = browser.get(flux.url + "/api/csrf", timeout=5).json()["token"]
    created = browser.post(flux.url + "/api/portal/setup-request", headers={"X-CSRF-Token": token}, timeout=5,
                           json={"templateType": "restaurant", "contactNumber": "+39 02 1234 5678"})
    assert created.status_code == 201, created.text
    authorize = provider.authorize_requests[-1]
    assert authorize["code_challenge_method"] == "S256" and authorize["scope"] == "openid email profile"
    assert authorize["redirect_uri"] == flux.url + "/api/auth/oidc/google/callback"

    # The provider rotates its signing key; Flux fetches the new JWKS when it meets the new key id.
    provider.rotate()
    time.sleep(2.1)
    browser, callback = google_sign_in(flux, return_to="/welcome?tab=1")
    assert callback.status_code == 303, callback.text
    assert callback.headers["Location"] == "/welcome?tab=1"
    assert me(flux, browser).json()["email"] == "oidc-user@example.com"
    _, callback = google_sign_in(flux, return_to="https://evil.example/steal")
    assert callback.headers["Location"] == "/"  # an off-site returnTo is dropped


@pytest.mark.parametrize("mode", ["forged", "expired", "wrong_audience", "wrong_nonce", "unverified_email", "wrong_issuer"])
def test_bad_id_tokens_are_refused(flux, provider, mode):
    provider.mode = mode
    browser, callback = google_sign_in(flux)
    assert callback.status_code == 401, callback.text
    assert callback.json()["error"]["code"] == "oidc_token_rejected"
    assert me(flux, browser).status_code == 401


def test_state_mismatch_and_a_callback_without_the_flow_are_refused(flux, provider):
    browser = requests.Session()
    started = browser.get(flux.url + "/api/auth/oidc/google/start", allow_redirects=False, timeout=10)
    authorized = browser.get(started.headers["Location"], allow_redirects=False, timeout=10)
    callback = urllib.parse.urlparse(authorized.headers["Location"])
    code = dict(urllib.parse.parse_qsl(callback.query))["code"]
    forged = browser.get(flux.url + "/api/auth/oidc/google/callback", params={"code": code, "state": "attacker-state"},
                         allow_redirects=False, timeout=10)
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "oidc_state_mismatch"
    # An attacker's own callback URL, opened in a victim's browser that never started a sign-in.
    stranger = requests.get(authorized.headers["Location"], allow_redirects=False, timeout=10)
    assert stranger.status_code == 401 and stranger.json()["error"]["code"] == "oidc_flow_missing"
    assert provider.token_requests == []


def register_and_sign_in(flux, address, password):
    """A password account made through the API, signed in: its session and its access and refresh tokens."""
    session = register(flux, address, password)
    signed_in = session.post(flux.url + "/api/auth/login", json={"email": address, "password": password}, timeout=10)
    assert signed_in.status_code == 200, signed_in.text
    return session, signed_in.json()


def test_a_provider_verified_email_claims_an_account_whose_address_was_never_verified(flux, provider):
    """Anyone can register an address they do not own; the provider's proof wins the account, and the
    registrant's password, sessions and refresh tokens stop working."""
    squatter, tokens = register_and_sign_in(flux, "oidc-user@example.com", "a squatter's password")
    browser, callback = google_sign_in(flux)
    assert callback.status_code == 303
    assert me(flux, browser).json()["email"] == "oidc-user@example.com"
    assert login(flux, "oidc-user@example.com", "a squatter's password").status_code == 401
    bearer = {"Authorization": "Bearer " + tokens["accessToken"]}
    assert requests.get(flux.url + "/api/auth/me", headers=bearer, timeout=5).status_code == 401
    refreshed = squatter.post(flux.url + "/api/auth/refresh", json={"refreshToken": tokens["refreshToken"]}, timeout=5)
    assert refreshed.status_code == 401


def test_a_verified_email_links_an_existing_password_account(flux, workdir, provider):
    session, _ = register_and_sign_in(flux, "oidc-user@example.com", "a password account")
    token = wait_for_mail(workdir, "/account/verify-email#token=").split("#token=")[1]
    assert session.post(flux.url + "/api/auth/email/verify", json={"token": token}, timeout=10).status_code == 204
    browser, callback = google_sign_in(flux)
    assert callback.status_code == 303
    assert callback.headers["Location"] == "/app/onboarding"
    assert me(flux, browser).json()["email"] == "oidc-user@example.com"
    # The one account, now reachable both ways.
    assert login(flux, "oidc-user@example.com", "a password account").status_code == 200


def test_an_account_with_a_second_factor_cannot_skip_it_through_the_provider(flux, provider):
    created = run_flux(["create-admin", "--email", "oidc-user@example.com", "--role", "owner"], flux.env, flux.cwd,
                       input="an owner passphrase\n")
    assert created.returncode == 0, created.stderr
    browser, callback = google_sign_in(flux)
    assert callback.status_code == 401 and callback.json()["error"]["code"] == "mfa_required"
    assert me(flux, browser).status_code == 401


def test_state_mismatch_in_a_browser_ends_on_a_page_and_clears_the_flow(flux, provider):
    browser_session = requests.Session()
    started = browser_session.get(flux.url + "/api/auth/oidc/google/start", allow_redirects=False, timeout=10)
    authorized = browser_session.get(started.headers["Location"], allow_redirects=False, timeout=10)
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(authorized.headers["Location"]).query))["code"]
    forged = browser_session.get(flux.url + "/api/auth/oidc/google/callback", params={"code": code, "state": "attacker-state"},
                                 headers={"Accept": "text/html"}, allow_redirects=False, timeout=10)
    assert forged.status_code == 401 and forged.headers["Content-Type"].startswith("text/html")
    assert 'id="oidc-failed" data-code="oidc_state_mismatch"' in forged.text
    assert 'href="/account/sign-in"' in forged.text
    # The failed flow cannot be finished afterwards with the right state.
    assert "oidc" not in browser_session.cookies
    assert provider.token_requests == []


def test_the_portal_and_hq_sign_in_pages_offer_each_configured_provider(flux_with_apple):
    for page, return_to in (("/app/sign-in", "%2Fapp"), ("/hq-command", "%2Fhq%2Dcommand%2Fdashboard"),
                            ("/account/sign-in", "%2Faccount")):
        text = requests.get(flux_with_apple.url + page, timeout=10).text
        assert f'id="google" href="/api/auth/oidc/google/start?returnTo={return_to}"' in text, page
        assert f'id="apple" href="/api/auth/oidc/apple/start?returnTo={return_to}"' in text, page
        assert "Continue with Apple" in text and "Continue with Google" in text
    assert "Weiter mit Apple" in requests.get(flux_with_apple.url + "/account/sign-in?lang=de", timeout=10).text


def test_google_journey_from_the_portal_sign_in_page(flux, provider):
    """A returning client: the portal's sign-in page, Continue with Google, the provider, and the portal."""
    browser_session, callback = google_sign_in(flux)
    token = browser_session.get(flux.url + "/api/csrf", timeout=5).json()["token"]
    created = browser_session.post(flux.url + "/api/portal/setup-request", headers={"X-CSRF-Token": token}, timeout=5,
                                   json={"templateType": "restaurant", "contactNumber": "+39 02 1234 5678"})
    assert created.status_code == 201, created.text
    driver = browser()
    try:
        driver.get(flux.url + "/app")
        browser_until(driver, lambda d: urllib.parse.urlparse(d.current_url).path == "/app/sign-in")
        driver.find_element(By.ID, "google").click()
        # The provider sends the browser back to /app, which shows a client with a setup request its status.
        browser_until(driver, lambda d: urllib.parse.urlparse(d.current_url).path == "/app/status", 15)
        assert driver.find_elements(By.ID, "sign-out"), "the portal shows a signed-in page"
        assert problems(driver) == ([], 0, None)
    finally:
        driver.quit()
    assert provider.authorize_requests[-1].get("response_mode") is None  # Google answers in the query string


def test_apple_journey_from_the_account_sign_in_page(flux_with_apple, apple_provider):
    """A new person: Continue with Apple, the provider's form_post from another site, the relay page, and an account
    named with the name Apple shared; then the same person back again, when Apple shares no name."""
    driver = browser()
    try:
        driver.get(flux_with_apple.url + "/account/sign-in?next=/account/settings")
        driver.find_element(By.ID, "apple").click()
        browser_until(driver, lambda d: urllib.parse.urlparse(d.current_url).path == "/app/onboarding", 15)
        assert csp_violations(driver) == []
        cookies = {cookie["name"]: cookie["value"] for cookie in driver.get_cookies()}
        answer = requests.get(flux_with_apple.url + "/api/auth/me", cookies=cookies, timeout=5).json()
        assert answer["email"] == "oidc-user@example.com" and answer["displayName"] == "Ada Lovelace"
        assert answer["role"] == "client_admin"

        authorize = apple_provider.authorize_requests[-1]
        assert authorize["response_mode"] == "form_post" and authorize["scope"] == "openid email name"
        assert authorize["redirect_uri"] == flux_with_apple.url + "/api/auth/oidc/apple/callback"
        # The client secret the provider accepted: ES256 under the key id, from the team, for this client, minutes long.
        secret = apple_provider.client_secrets[-1]
        assert secret["header"]["alg"] == "ES256" and secret["header"]["kid"] == APPLE_KEY_ID
        assert secret["claims"]["iss"] == APPLE_TEAM_ID and secret["claims"]["aud"] == apple_provider.url
        assert 0 < secret["claims"]["exp"] - secret["claims"]["iat"] <= 600

        token = csrf_session(flux_with_apple).get(flux_with_apple.url + "/api/csrf", cookies=cookies, timeout=5)
        created = requests.post(flux_with_apple.url + "/api/portal/setup-request", timeout=5,
                                cookies={**cookies, **token.cookies.get_dict()}, headers={"X-CSRF-Token": token.json()["token"]},
                                json={"templateType": "restaurant", "contactNumber": "+39 02 1234 5678"})
        assert created.status_code == 201, created.text
        driver.delete_all_cookies()
        driver.get(flux_with_apple.url + "/account/sign-in?next=/account/settings")
        driver.find_element(By.ID, "apple").click()
        browser_until(driver, lambda d: urllib.parse.urlparse(d.current_url).path == "/account/settings", 15)
        assert driver.find_element(By.ID, "sign-out")
        assert problems(driver) == ([], 0, None)
    finally:
        driver.quit()
    assert len(apple_provider.client_secrets) == 2


def test_a_forged_or_replayed_apple_callback_is_refused(flux_with_apple, apple_provider):
    """Apple's POST is the one route without the CSRF check: it only relays, and what it relays is checked as
    strictly as Google's callback (the flow cookie, its state), so an attacker's code signs no one in."""
    callback = flux_with_apple.url + "/api/auth/oidc/apple/callback"
    _, attackers = apple_authorize(flux_with_apple)
    # The attacker's code and state, posted from the attacker's page by a victim's browser with no flow of its own.
    victim = requests.Session()
    relay = victim.post(callback, data=attackers, headers={"Cookie": "session=1"}, timeout=10)
    assert relay.status_code == 200 and relay.headers["Content-Type"].startswith("text/html")
    assert hidden_fields(relay.text) == {**attackers, "relayed": "1"}
    assert 'action="/api/auth/oidc/apple/callback"' in relay.text and 'src="/assets/oidc-relay.js" nonce="' in relay.text
    refused = victim.post(callback, data=hidden_fields(relay.text), allow_redirects=False, timeout=10)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "oidc_flow_missing"
    # A victim with a flow of its own in progress: the attacker's state is not that flow's.
    victim, _ = apple_authorize(flux_with_apple, session=victim)
    refused = victim.post(callback, data={**attackers, "relayed": "1"}, allow_redirects=False, timeout=10)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "oidc_state_mismatch"
    assert me(flux_with_apple, victim).status_code == 401
    assert apple_provider.token_requests == []

    # A finished flow cannot be replayed: its cookie is gone, in that browser or any other.
    browser_session, relay, signed_in = apple_sign_in(flux_with_apple)
    assert signed_in.status_code == 303, signed_in.text
    replayed = browser_session.post(callback, data=hidden_fields(relay.text), allow_redirects=False, timeout=10,
                                    headers={"Accept": "text/html"})
    assert replayed.status_code == 401 and 'data-code="oidc_flow_missing"' in replayed.text
    assert len(apple_provider.token_requests) == 1


def test_a_client_secret_signed_with_another_key_is_refused_by_the_provider(serve, apple_provider):
    """The provider checks Flux's client secret with the public key registered for the team: signed with any other
    key, the same well-formed secret is refused and nobody is signed in."""
    other_key = new_client_key()
    server = serve(**apple_provider.flux_env(pkcs8_pem(other_key)))
    browser_session, _, callback = apple_sign_in(server)
    assert callback.status_code == 401 and callback.json()["error"]["code"] == "oidc_token_rejected"
    assert me(server, browser_session).status_code == 401
    assert apple_provider.client_secrets == []
    [request] = apple_provider.token_requests
    # Flux did send its ES256 secret: it verifies with the key Flux holds, and with that key only.
    claims = jwt.decode(request["client_secret"], other_key.public_key(), algorithms=["ES256"], audience=apple_provider.url)
    assert claims["iss"] == APPLE_TEAM_ID and claims["sub"] == request["client_id"]
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(request["client_secret"], apple_provider.client_key.public_key(), algorithms=["ES256"], audience=apple_provider.url)


def test_a_bad_apple_key_stops_flux_at_start_with_the_variable_named(workdir, apple_provider):
    """A key that is not a P-256 private key is a configuration problem named at start, not a crash at the first
    sign-in, and its text is never printed."""
    not_a_key = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END PRIVATE KEY-----"
    started = run_flux(["serve"], clean_env(**apple_provider.flux_env(not_a_key)), workdir)
    assert started.returncode == 1
    assert "OIDC_APPLE_PRIVATE_KEY" in started.stderr and "P-256" in started.stderr
    assert "bm90IGEga2V5" not in started.stdout + started.stderr


def test_the_linking_rules_are_the_same_for_apple(flux_with_apple, provider, apple_provider):
    """One person, one account: Apple's proof of the address Google's sign-in already verified reaches the same
    account; and an address someone registered without owning it is claimed from them by Apple's proof, as by Google's."""
    google_session, callback = google_sign_in(flux_with_apple)
    assert callback.status_code == 303
    apple_session, _, callback = apple_sign_in(flux_with_apple)
    assert callback.status_code == 303, callback.text
    assert me(flux_with_apple, apple_session).json()["id"] == me(flux_with_apple, google_session).json()["id"]

    apple_provider.email, apple_provider.subject = "apple-user@example.com", "subject-2"
    register(flux_with_apple, "apple-user@example.com", "a squatter's password")
    apple_session, _, callback = apple_sign_in(flux_with_apple)
    assert callback.status_code == 303, callback.text
    assert me(flux_with_apple, apple_session).json()["email"] == "apple-user@example.com"
    assert login(flux_with_apple, "apple-user@example.com", "a squatter's password").status_code == 401
