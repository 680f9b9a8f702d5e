"""Google sign-in (OpenID Connect code flow with PKCE) end to end against a local provider with real RSA
keys: new and returning accounts, key rotation mid-test, and every token or callback that must be refused."""
import time
import urllib.parse

import pytest
import requests

from helpers import google_sign_in, login, me, register, run_flux, wait_for_mail


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
