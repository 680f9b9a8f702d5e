"""A small but real OpenID Connect provider for the tests: discovery, an authorization endpoint that
consents at once, a token endpoint that checks the client's credentials and the PKCE verifier, and a JWKS of
real RSA keys. `mode` makes it issue the ID tokens an attacker or a broken provider would.

`Provider(apple=True)` behaves like Sign in with Apple: it answers with `response_mode=form_post` (a page whose
form POSTs code, state and, the first time for a person, the `user` JSON to the redirect URI), authenticates the
client by its ES256 client-secret JWT (verified with the public half of `client_key`, the key pair the test gives
Flux), writes `email_verified` as Apple does (a string) and puts no name in the ID token."""
import base64
import hashlib
import html
import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

CLIENT_ID = "flux-test-client"
CLIENT_SECRET = "provider-client-secret"
APPLE_TEAM_ID = "TEAM123456"
APPLE_KEY_ID = "KEY7654321"
# Apple refuses a client secret that lives longer than six months.
APPLE_SECRET_MAX_SECONDS = 15777000


def new_key():
    return "kid-" + secrets.token_hex(4), rsa.generate_private_key(public_exponent=65537, key_size=2048)


def new_client_key():
    """A P-256 key pair like the one Apple issues a team."""
    return ec.generate_private_key(ec.SECP256R1())


def pkcs8_pem(key):
    """The private key as Apple hands it out (AuthKey_<key id>.p8): PKCS#8 PEM."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


class Provider:
    def __init__(self, apple=False):
        self.kid, self.key = new_key()
        self.apple = apple
        self.client_key = new_client_key() if apple else None
        self.mode = "valid"
        self.email = "oidc-user@example.com"
        self.subject = "subject-1"
        self.shared_name = {"firstName": "Ada", "lastName": "Lovelace"}
        self.name_shared_with = set()
        self.codes = {}
        self.authorize_requests = []
        self.token_requests = []
        self.client_secrets = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        # Apple's answer is a POST from another site, which browsers send without SameSite=Lax cookies. Flux runs on
        # 127.0.0.1; named as localhost, this provider is another site to the browser (ports do not make a site).
        host = "localhost" if apple else "127.0.0.1"
        self.url = f"http://{host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def flux_env(self, private_key_pem):
        """Flux's OIDC_APPLE_* for this provider, signing its client secrets with `private_key_pem`."""
        return dict(OIDC_APPLE_ISSUER=self.url, OIDC_APPLE_CLIENT_ID=CLIENT_ID, OIDC_APPLE_TEAM_ID=APPLE_TEAM_ID,
                    OIDC_APPLE_KEY_ID=APPLE_KEY_ID, OIDC_APPLE_PRIVATE_KEY=private_key_pem)

    def rotate(self):
        self.kid, self.key = new_key()

    def stop(self):
        self.server.shutdown()

    def id_token(self, nonce):
        now = int(time.time())
        claims = {"iss": self.url, "sub": self.subject, "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": nonce,
                  "email": self.email, "email_verified": True, "name": "Oidc User"}
        key, kid = self.key, self.kid
        if self.mode == "expired":
            claims.update(iat=now - 3600, exp=now - 1800)
        elif self.mode == "wrong_audience":
            claims["aud"] = "another-client"
        elif self.mode == "wrong_nonce":
            claims["nonce"] = "not-the-nonce"
        elif self.mode == "unverified_email":
            claims["email_verified"] = False
        elif self.mode == "wrong_issuer":
            claims["iss"] = "https://evil.example"
        elif self.mode == "forged":
            _, key = new_key()  # signed by a key the JWKS does not hold, under the real key id
        if self.apple:
            del claims["name"]
            claims.update(email_verified="true" if claims["email_verified"] else "false", is_private_email="false")
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})

    def client_authenticated(self, form):
        """Whether the token request's client credentials are right: the shared secret, or for Apple a client-secret
        JWT signed by `client_key` (ES256, kid, iss = team id, sub = client id, aud = this issuer, at most six months)."""
        if not self.apple:
            return form.get("client_secret") == CLIENT_SECRET
        secret = form.get("client_secret", "")
        try:
            header = jwt.get_unverified_header(secret)
            claims = jwt.decode(secret, self.client_key.public_key(), algorithms=["ES256"], audience=self.url,
                                issuer=APPLE_TEAM_ID, options={"require": ["iss", "sub", "aud", "iat", "exp"]})
        except jwt.PyJWTError:
            return False
        if header.get("kid") != APPLE_KEY_ID or claims["sub"] != CLIENT_ID or form.get("client_id") != CLIENT_ID \
                or claims["exp"] - claims["iat"] > APPLE_SECRET_MAX_SECONDS:
            return False
        self.client_secrets.append({"header": header, "claims": claims})
        return True

    def form_post_page(self, redirect_uri, fields):
        """Apple's answer: a page that POSTs the fields to the redirect URI as soon as it loads."""
        inputs = "".join(f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
                         for name, value in fields.items())
        return (f'<!doctype html><html><head><link rel="icon" href="data:,"></head><body onload="document.forms[0].submit()"><form method="post" '
                f'action="{html.escape(redirect_uri)}">{inputs}<button>Continue</button></form></body></html>').encode()

    def jwks(self):
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        public.update(kid=self.kid, use="sig", alg="RS256")
        return {"keys": [public]}

    def handler(self):
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def send_json(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/.well-known/openid-configuration":
                    self.send_json(200, {"issuer": provider.url, "authorization_endpoint": provider.url + "/authorize",
                                         "token_endpoint": provider.url + "/token", "jwks_uri": provider.url + "/jwks"})
                elif url.path == "/jwks":
                    self.send_json(200, provider.jwks())
                elif url.path == "/authorize":
                    provider.authorize_requests.append(query)
                    if query.get("client_id") != CLIENT_ID or query.get("code_challenge_method") != "S256" \
                            or not query.get("code_challenge"):
                        self.send_json(400, {"error": "invalid_request", "error_description": "PKCE S256 is required"})
                        return
                    if provider.apple and query.get("response_mode") != "form_post":
                        self.send_json(400, {"error": "invalid_request", "error_description": "form_post is required with these scopes"})
                        return
                    code = secrets.token_urlsafe(16)
                    provider.codes[code] = {"nonce": query["nonce"], "challenge": query["code_challenge"],
                                            "redirect_uri": query["redirect_uri"]}
                    if query.get("response_mode") == "form_post":
                        fields = {"code": code, "state": query["state"]}
                        if provider.subject not in provider.name_shared_with:  # Apple shares the name once
                            provider.name_shared_with.add(provider.subject)
                            fields["user"] = json.dumps({"name": provider.shared_name, "email": provider.email})
                        page = provider.form_post_page(query["redirect_uri"], fields)
                        self.send_response(200)
                        self.send_header("Content-Type", "text/html; charset=utf-8")
                        self.send_header("Content-Length", str(len(page)))
                        self.end_headers()
                        self.wfile.write(page)
                        return
                    target = query["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": query["state"]})
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.end_headers()
                else:
                    self.send_json(404, {"error": "not_found"})

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                provider.token_requests.append(form)
                grant = provider.codes.pop(form.get("code"), None)
                verifier = form.get("code_verifier", "")
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if not provider.client_authenticated(form):
                    self.send_json(401, {"error": "invalid_client"})
                    return
                if grant is None or challenge != grant["challenge"] or form.get("redirect_uri") != grant["redirect_uri"]:
                    self.send_json(400, {"error": "invalid_grant"})
                    return
                self.send_json(200, {"access_token": "unused", "token_type": "Bearer", "id_token": provider.id_token(grant["nonce"])})

        return Handler
