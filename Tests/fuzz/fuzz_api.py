"""Property-based fuzzing of every operation in docs/openapi.yaml with schemathesis, against a real `flux serve`
on SQLite, as a client admin and as a staff owner.

Each operation gets FUZZ_EXAMPLES generated requests with valid data and FUZZ_NEGATIVE_EXAMPLES with data that
breaks the document, per principal. A request fails when Flux answers 5xx, with a status, content type, header
or body its document does not allow, or in more than a second. Prints the operations covered, the requests
run and every failure (with a curl command to replay it); exits 1 on any failure.

SQLite by default; FUZZ_DATABASE_URL runs it against that PostgreSQL database instead. The seed is random and
printed; FUZZ_SEED=N replays a run. FUZZ_BUDGET_SECONDS (30) bounds the run of one operation: schemathesis can
search for minutes for invalid data it cannot make; a run cut short is listed. Rate limits stay on: each
request comes from its own address (X-Forwarded-For through a trusted loopback proxy), as many visitors
behind nginx would.
"""
import ipaddress
import json
import os
import pathlib
import random
import signal
import sys
import tempfile
import time
import warnings

import hypothesis
import pyotp
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                               response_schema_conformance, status_code_conformance)

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "Tests" / "integration"))
from helpers import FluxServer, clean_env, run_flux, wait_for_mail  # noqa: E402
from oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, pkcs8_pem  # noqa: E402

PASSWORD = "fuzzing passphrase 2026"
# The PNG signature and an IHDR chunk's start: what Flux's content check reads.
PNG = bytes([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]) + bytes(200)
MAX_SECONDS = 1.0
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
# Operations that end the caller's session when they succeed run as a second account of the same role, signed
# in afresh before each request, so the principal every other operation uses stays signed in.
ENDS_SESSION = {"logout", "logoutAll"}
SCHEMA_OPERATION = "GET /api/openapi.json"


class OutOfTime(Exception):
    """A run of one operation outlived its budget (schemathesis can spend minutes looking for invalid data)."""


class Principal:
    """A signed-in caller: `login` signs in again (for the account that runs the session-ending operations)."""

    def __init__(self, name, token, tenant_id, login=None):
        self.name, self.token, self.tenant_id, self._login = name, token, tenant_id, login

    def renew(self):
        self.token = self._login()


class Harness:
    def __init__(self, server, seed, budget):
        self.budget = budget
        self.truncated = []
        self.server = server
        self.url = server.url
        self.random = random.Random(seed)
        self.requests = 0
        self.failures = {}
        self.covered = set()
        self.succeeded = set()

    # MARK: - accounts and data

    def address(self):
        return str(ipaddress.IPv4Address(self.random.randrange(0x0A000001, 0x0AFFFFFE)))

    def csrf_session(self):
        session = requests.Session()
        session.headers["X-Forwarded-For"] = self.address()
        session.headers["X-CSRF-Token"] = session.get(self.url + "/api/csrf", timeout=10).json()["token"]
        return session

    def post(self, path, token=None, **kwargs):
        session = self.csrf_session() if token is None else requests.Session()
        headers = {"X-Forwarded-For": self.address()}
        if token:
            headers["Authorization"] = "Bearer " + token
        answer = session.post(self.url + path, headers=headers, timeout=30, **kwargs)
        assert answer.status_code < 300, f"{path}: {answer.status_code} {answer.text}"
        return answer.json() if answer.content else None

    def login(self, email):
        """Tokens for `email`; an owner's first sign-in enrols TOTP on the way, as the role requires."""
        body = self.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        if "accessToken" in body:
            return body["accessToken"]
        assert body["enrollmentRequired"], f"{email}: only a first sign-in with a second factor is expected here"
        setup = self.post("/api/auth/mfa/totp/setup", json={"challenge": body["challenge"]})
        code = pyotp.parse_uri(setup["otpauthUri"]).now()
        return self.post("/api/auth/mfa/totp/confirm", json={"challenge": body["challenge"], "code": code})["accessToken"]

    def staff(self, email, role):
        created = run_flux(["create-admin", "--email", email, "--role", role], self.server.env, self.server.cwd, input=PASSWORD + "\n")
        assert created.returncode == 0, created.stderr

    def client(self, email, company):
        """A client admin who registered and proved the address with the mailed link (inviting needs it)."""
        self.post("/api/auth/register", json={"email": email, "password": PASSWORD, "company": company})
        self.post("/api/auth/email/verify", json={"token": self.mailed_token(email, "/account/verify-email#token=")})

    def mailed_token(self, address, marker):
        """The token of the newest link to `marker` mailed to `address` (Flux writes mail to DATA_DIR/mail here)."""
        return wait_for_mail(self.server.cwd, marker, to=address, seconds=15).split(marker, 1)[1]

    def principals(self):
        self.staff("owner@fuzz.example", "owner")
        self.staff("engineer@fuzz.example", "engineer")
        self.client("admin@client.example", "Fuzzed Client")
        self.client("second@client.example", "Second Client")
        owner_token = self.login("owner@fuzz.example")
        client_token = self.login("admin@client.example")
        client_tenant = self.get("/api/auth/me", client_token)["tenant"]["id"]
        second_token = self.login("second@client.example")
        engineer_token = self.login("engineer@fuzz.example")
        return {
            "client": (Principal("client", client_token, client_tenant),
                       Principal("client", second_token, None, lambda: self.login("second@client.example"))),
            "staff": (Principal("staff", owner_token, None),
                      Principal("staff", engineer_token, None, lambda: self.login("engineer@fuzz.example"))),
        }

    def get(self, path, token):
        answer = requests.get(self.url + path, headers={"Authorization": "Bearer " + token, "X-Forwarded-For": self.address()}, timeout=10)
        assert answer.status_code == 200, f"{path}: {answer.status_code} {answer.text}"
        return answer.json()

    def seed_data(self, client, staff):
        """Real ids for path parameters: a generated UUID only ever reaches "not found"."""
        token = client.token
        setup = self.post("/api/portal/setup-request", token, json={"templateType": "retail", "contactNumber": "+39 333 1234567"})
        thread = self.post("/api/portal/conversations", token, json={"kind": "channel", "title": "Fuzzing"})
        files = f"/api/tenants/{client.tenant_id}"
        folder = self.post(files + "/folders", token, json={"name": "Fuzzed"})
        file = self.post(files + "/files", token, files={"file": ("notes.txt", b"plain text to share\n")})
        message = self.post(f"/api/portal/conversations/{thread['id']}/messages", token, json={"body": "first", "fileId": file["id"]})
        asset = self.post("/api/public-upload", files={"file": ("pixel.png", PNG, "image/png")})
        share = self.post(f"{files}/files/{file['id']}/shares", token, json={"expiresInHours": 24})
        invitation = self.post("/api/portal/team/invitations", token, json={"email": "invited@client.example", "role": "client_member"})
        ticket = self.post("/api/consultation", json={"name": "Ada", "company": "Fuzz Ltd", "email": "ada@fuzz.example",
                                                      "preferredContact": "email"})
        key = self.post(f"/api/hq/tenants/{client.tenant_id}/api-keys", staff.token,
                        json={"name": "fuzz-worker", "scopes": ["heartbeat", "logs:write"]})
        self.worker_key = key["key"]
        share_id, share_token = share["url"].rsplit("/", 2)[-2:]
        self.known = {"tenantID": client.tenant_id, "threadID": thread["id"], "messageID": message["id"], "fileID": file["id"],
                      "folderID": folder["id"], "shareID": share_id, "token": share_token, "invitationID": invitation["id"],
                      "signalID": ticket["ticketId"], "requestID": setup["id"], "keyID": key["id"], "assetID": asset["assetId"]}

    # MARK: - fuzzing

    def prepare(self, case, principal):
        """The caller's credentials (no cookie, so the bearer is CSRF-exempt), an address of its own, and, for
        half the cases, the real ids of this run's data in place of generated ones."""
        security = case.operation.definition.raw.get("security")
        uses_key = security == [{"apiKey": []}]
        if case.path_parameters and self.random.random() < 0.5:
            for name in case.path_parameters:
                if name in self.known:
                    case.path_parameters[name] = self.known[name]
        case.cookies = {}
        headers = {"X-Forwarded-For": self.address()}
        headers["Authorization"] = "Bearer " + (self.worker_key if uses_key else principal.token)
        return headers

    def fuzz(self, operation, principal, mode, examples, seed):
        label = operation.label
        harness = self

        @hypothesis.seed(seed)
        @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck), verbosity=hypothesis.Verbosity.quiet)
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case):
            if operation.definition.raw.get("operationId") in ENDS_SESSION:
                principal.renew()
            headers = harness.prepare(case, principal)
            try:
                response = case.call(base_url=harness.url, headers=headers, timeout=30)
            except requests.RequestException as error:
                harness.fail(label, principal, mode, "the request failed: " + type(error).__name__, case, headers)
                return
            harness.requests += 1
            if response.status_code < 400:
                harness.succeeded.add(label)
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except (Exception, BaseExceptionGroup) as failure:
                for reason in reasons(failure):
                    harness.fail(label, principal, mode, reason, case, headers)
            if response.elapsed > MAX_SECONDS:
                harness.fail(label, principal, mode, f"answered in {response.elapsed:.2f}s (over {MAX_SECONDS:.0f}s)", case, headers)

        def expire(signum, frame):
            # Again a second later: hypothesis replays a failing example, which must end too.
            signal.alarm(1)
            raise OutOfTime()

        signal.signal(signal.SIGALRM, expire)
        signal.alarm(self.budget)
        try:
            run()
        except hypothesis.errors.Unsatisfiable:
            # Nothing to break: an operation without parameters or body has no invalid request.
            assert mode == GenerationMode.NEGATIVE, label
        except BaseException as stop:  # hypothesis reports it wrapped (as a flaky failure, in a group)
            if not contains(stop, OutOfTime):
                raise
            self.truncated.append(f"{label} as {principal.name} ({mode.value})")
        finally:
            signal.alarm(0)
        self.covered.add(label)

    def fail(self, label, principal, mode, reason, case, headers):
        key = (label, reason)
        if key not in self.failures:
            self.failures[key] = f"{label} as {principal.name} ({mode.value}): {reason}\n    {case.as_curl_command(headers=headers)}"


def contains(error, kind):
    """Whether `error` is `kind` or holds one, as a group member or a cause."""
    if isinstance(error, kind):
        return True
    inner = list(getattr(error, "exceptions", [])) + [e for e in (error.__cause__, error.__context__) if e is not None]
    return any(contains(e, kind) for e in inner)


def log_problems(text):
    """Flux logs one JSON object a line; anything else (a trap's backtrace) or a critical entry is a failure."""
    problems = []
    for line in filter(str.strip, text.splitlines()):
        try:
            entry = json.loads(line)
        except ValueError:
            problems.append("flux wrote a line that is not JSON: " + line[:200])
            break
        if entry.get("level") == "critical":
            problems.append(f"flux logged: {line[:300]}")
    return problems


def reasons(failure):
    """One line per failed check: schemathesis raises a group when several failed."""
    for single in getattr(failure, "exceptions", [failure]):
        title = getattr(single, "title", type(single).__name__)
        message = (getattr(single, "message", "") or str(single)).strip().replace("\n", " ")
        yield f"{title}: {' '.join(message.split())[:300]}"


def main():
    examples = int(os.environ.get("FUZZ_EXAMPLES", "20"))
    negative_examples = int(os.environ.get("FUZZ_NEGATIVE_EXAMPLES", "10"))
    seed = int(os.environ.get("FUZZ_SEED", str(random.randrange(1 << 32))))
    budget = int(os.environ.get("FUZZ_BUDGET_SECONDS", "30"))
    warnings.simplefilter("ignore")
    provider, apple = Provider(), Provider(apple=True)
    workdir = tempfile.mkdtemp(prefix="flux-fuzz-")
    server = FluxServer(workdir, clean_env(OIDC_GOOGLE_ISSUER=provider.url, OIDC_GOOGLE_CLIENT_ID=CLIENT_ID,
                                           OIDC_GOOGLE_CLIENT_SECRET=CLIENT_SECRET, TRUSTED_PROXIES="127.0.0.1",
                                           DATABASE_URL=os.environ.get("FUZZ_DATABASE_URL"),
                                           **apple.flux_env(pkcs8_pem(apple.client_key))))
    server.env["PUBLIC_URL"] = server.url
    server.start()
    started = time.monotonic()
    try:
        harness = Harness(server, seed, budget)
        principals = harness.principals()
        harness.seed_data(principals["client"][0], principals["staff"][0])
        schema = schemathesis.openapi.from_url(server.url + "/api/openapi.json")
        # Deletions last, so what they remove is there for every other operation first.
        operations = sorted((result.ok() for result in schema.get_all_operations()), key=lambda op: op.method.upper() == "DELETE")
        print(f"fuzzing {len(operations)} operations, seed {seed}, {examples} valid + {negative_examples} invalid requests "
              f"per operation and principal")
        for operation in operations:
            for role in ("client", "staff"):
                main_principal, session_ender = principals[role]
                principal = session_ender if operation.definition.raw.get("operationId") in ENDS_SESSION else main_principal
                harness.fuzz(operation, principal, GenerationMode.POSITIVE, examples, seed)
                harness.fuzz(operation, principal, GenerationMode.NEGATIVE, negative_examples, seed)
    finally:
        code = server.stop()
        provider.stop()
        apple.stop()
    documented = {f"{method.upper()} {path}" for path, item in schema.raw_schema["paths"].items() for method in item if method != "parameters"}
    problems = list(harness.failures.values())
    problems += [f"{label} was not fuzzed" for label in sorted(documented - harness.covered - {SCHEMA_OPERATION})]
    if code not in (0, None):
        problems.append(f"flux exited with {code}")
    problems += log_problems(server.log_text())
    for problem in problems:
        print("FAIL " + problem)
    failing = {label for label, _ in harness.failures}
    print(f"operations covered: {len(harness.covered)} of {len(documented)} documented (schemathesis leaves out "
          f"{SCHEMA_OPERATION}, the URL it reads the document from)")
    print(f"operations answered with success at least once: {len(harness.succeeded)}; never: "
          + ", ".join(sorted(harness.covered - harness.succeeded)))
    if harness.truncated:
        print(f"stopped at the {budget}s budget of one operation: " + ", ".join(harness.truncated))
    print(f"generated requests run: {harness.requests} in {time.monotonic() - started:.0f}s (seed {seed})")
    print(f"fuzz: {len(harness.covered - failing)} passed, {len(problems)} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
