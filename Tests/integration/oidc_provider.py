"""A small but real OpenID Connect provider for the tests: discovery, an authorization endpoint that
consents at once, a token endpoint that checks the client secret and the PKCE verifier, and a JWKS of real
RSA keys. `mode` makes it issue the ID tokens an attacker or a broken provider would."""
import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

CLIENT_ID = "flux-test-client"
CLIENT_SECRET = "provider-client-secret"


def new_key():
    return "kid-" + secrets.token_hex(4), rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Provider:
    def __init__(self):
        self.kid, self.key = new_key()
        self.mode = "valid"
        self.email = "oidc-user@example.com"
        self.subject = "subject-1"
        self.codes = {}
        self.authorize_requests = []
        self.token_requests = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

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
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})

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
                    code = secrets.token_urlsafe(16)
                    provider.codes[code] = {"nonce": query["nonce"], "challenge": query["code_challenge"],
                                            "redirect_uri": query["redirect_uri"]}
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
                if grant is None or form.get("client_secret") != CLIENT_SECRET or challenge != grant["challenge"] \
                        or form.get("redirect_uri") != grant["redirect_uri"]:
                    self.send_json(400, {"error": "invalid_grant"})
                    return
                self.send_json(200, {"access_token": "unused", "token_type": "Bearer", "id_token": provider.id_token(grant["nonce"])})

        return Handler
