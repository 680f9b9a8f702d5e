"""Plain helpers the integration tests share; the pytest fixtures built on them live in conftest.py.

Test modules import from here and never from one another (nor from conftest), so each can be run, changed or
removed alone. Tests/fuzz/fuzz_api.py imports this module too (it puts this directory on sys.path).
"""
import email
import email.policy
import html.parser
import json
import os
import pathlib
import re
import signal
import socket
import ssl
import subprocess
import time

import requests
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

ROOT = pathlib.Path(__file__).resolve().parents[2]
FLUX_BIN = pathlib.Path(os.environ.get("FLUX_BIN", ROOT / ".build" / "debug" / "flux"))
STRONG_SECRET = "q4Jm7X1c2ZrV+p9nW0s3bKfT8yLhE6aGdUoR5iNtQwMzSvHxCkPjYlBe"
# A production configuration needs one (flux doctor fails without it).
METRICS_TOKEN = "mT9vQ2xK7wR4nY8pL3sD6fJ1hG5cB0zAeU"


# MARK: - the binary


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**values):
    """Only what a newcomer's shell has, plus `values`: no Flux variable leaks in from the caller."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    env.update({key: str(value) for key, value in values.items() if value is not None})
    return env


def run_flux(args, env, cwd, timeout=60, input=None):
    """One `flux` command to its end; `input` is its standard input (create-admin reads the password there, as an
    operator types it, never from the command line)."""
    return subprocess.run([str(FLUX_BIN), *args], env=env, cwd=cwd, input=input, capture_output=True, text=True, timeout=timeout)


class FluxServer:
    """`flux serve` on a free loopback port; stops it with SIGTERM."""

    def __init__(self, cwd, env):
        self.port = free_port()
        self.cwd = cwd
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = pathlib.Path(cwd) / f"flux-{self.port}.log"
        self.env = dict(env, PORT=str(self.port))
        self.process = None

    def start(self, wait=True):
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen([str(FLUX_BIN), "serve"], env=self.env, cwd=self.cwd,
                                        stdout=self._log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_live()
        return self

    def wait_live(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"flux exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                if requests.get(self.url + "/api/health/live", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"flux did not come up:\n{self.log_text()}")

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=timeout)
        self._log.close()
        return self.process.returncode

    def log_text(self):
        return self.log_path.read_text() if self.log_path.exists() else ""

    def log_entries(self):
        return [json.loads(line) for line in self.log_text().splitlines() if line.strip()]


def memory_kib(pid, field):
    """A memory figure of process `pid` in KiB from /proc: "VmRSS" (resident now) or "VmHWM" (the peak so far)."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field}")


def as_cluster_owner(command):
    """`command` as the owner of the throwaway cluster's files: pg_ctl refuses to run as root."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


# MARK: - waiting


def wait_until(probe, seconds=10, interval=0.1, enough=bool):
    """Calls `probe` until `enough` accepts its value or `seconds` pass, and returns the last value: the caller
    asserts on it, so a timeout fails with what was last seen instead of a bare "timed out"."""
    deadline = time.monotonic() + seconds
    while not enough(value := probe()) and time.monotonic() < deadline:
        time.sleep(interval)
    return value


class step:
    """One named step of a long journey, as a `with` block: a failure inside it is re-raised with the step's name
    in front, so a one-line report (scripts/test runs pytest with --tb=line) says how far the journey got and
    points at the step's line in the test. The original error stays chained below it."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        __tracebackhide__ = True
        if isinstance(error, Exception):
            raise AssertionError(f"step '{self.name}' failed: {kind.__name__}: {error}") from error
        return False


# MARK: - the API as a visitor uses it


def csrf_session(server, **headers):
    """A requests session carrying `headers` and the CSRF token Flux asks of every unsafe request."""
    session = requests.Session()
    session.headers.update(headers)
    session.headers["X-CSRF-Token"] = session.get(server.url + "/api/csrf", timeout=10).json()["token"]
    return session


def register(server, email_address, password, session=None, **fields):
    """Signs up through the API (in `session`, or a new one) and asserts Flux accepted it; returns the session."""
    session = session if session is not None else csrf_session(server)
    answered = session.post(server.url + "/api/auth/register", json={"email": email_address, "password": password, **fields},
                            timeout=30)
    assert answered.status_code == 202, answered.text
    return session


def login(server, email_address, password, **headers):
    """Flux's answer to a password sign-in from a fresh session carrying `headers`."""
    return csrf_session(server, **headers).post(server.url + "/api/auth/login",
                                                json={"email": email_address, "password": password}, timeout=30)


def google_sign_in(server, return_to="/"):
    """Runs the browser's part of the OpenID Connect flow against the test provider; returns the browser session
    and Flux's answer to the callback."""
    browser_session = requests.Session()
    started = browser_session.get(server.url + "/api/auth/oidc/google/start", params={"returnTo": return_to},
                                  allow_redirects=False, timeout=10)
    assert started.status_code in (302, 303), started.text
    authorized = browser_session.get(started.headers["Location"], allow_redirects=False, timeout=10)
    assert authorized.status_code == 302, authorized.text
    return browser_session, browser_session.get(authorized.headers["Location"], allow_redirects=False, timeout=10)


class _HiddenInputs(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.fields = {}

    def handle_starttag(self, tag, attributes):
        attributes = dict(attributes)
        if tag == "input" and attributes.get("type") == "hidden":
            self.fields[attributes["name"]] = attributes.get("value") or ""


def hidden_fields(page):
    """The name and value of each hidden input of an HTML page."""
    parser = _HiddenInputs()
    parser.feed(page)
    return parser.fields


def apple_authorize(server, return_to="/", session=None):
    """Starts Sign in with Apple in `session` (a new one by default) and consents at the test provider; returns the
    session and the fields the provider's form_post page would POST to Flux's callback."""
    browser_session = session if session is not None else requests.Session()
    started = browser_session.get(server.url + "/api/auth/oidc/apple/start", params={"returnTo": return_to},
                                  allow_redirects=False, timeout=10)
    assert started.status_code in (302, 303), started.text
    authorized = browser_session.get(started.headers["Location"], allow_redirects=False, timeout=10)
    assert authorized.status_code == 200, authorized.text
    return browser_session, hidden_fields(authorized.text)


def apple_sign_in(server, return_to="/"):
    """The whole Apple flow as a browser runs it: the provider's POST answered by the relay page, whose fields are
    posted back; returns the session, the relay page's answer and Flux's answer to the relayed POST."""
    browser_session, fields = apple_authorize(server, return_to)
    callback = server.url + "/api/auth/oidc/apple/callback"
    relay = browser_session.post(callback, data=fields, allow_redirects=False, timeout=10)
    assert relay.status_code == 200, relay.text
    return browser_session, relay, browser_session.post(callback, data=hidden_fields(relay.text), allow_redirects=False, timeout=10)


def me(server, session):
    return session.get(server.url + "/api/auth/me", timeout=5)


# MARK: - mail


def mails_to(directory, to, marker):
    """The lines with `marker` in every .eml Flux wrote under `directory`/data/mail (it writes mail there when SMTP_URL
    is unset) to `to` (any address when None), oldest first."""
    files = sorted((pathlib.Path(directory) / "data" / "mail").glob("*.eml"), key=lambda path: path.stat().st_mtime)
    lines = []
    for path in files:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if to is not None and to not in (address.addr_spec for address in message["To"].addresses):
            continue
        lines += [line.strip() for line in message.get_body(("plain",)).get_content().splitlines() if marker in line][:1]
    return lines


def _newest_link(directory, marker, to):
    """The newest mailed line with `marker` (to `to` when given); None when there is none yet."""
    found = mails_to(directory, to, marker)
    return found[-1] if found else None


def wait_for_mail(directory, marker, to=None, seconds=10):
    """The newest mailed link to `marker`, waiting for it: Flux sends mail from its outbox, after the answer."""
    link = wait_until(lambda: _newest_link(directory, marker, to), seconds)
    assert link, f"no mail with {marker}" + (f" to {to}" if to else "")
    return link


# MARK: - the browser

# Elements a page's script replaces while it renders: a wait rides them out instead of failing.
PAGE_CHANGES = (NoSuchElementException, StaleElementReferenceException)


def browser():
    """Headless Chromium through chromedriver, as scripts/test installs them."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def browser_until(driver, condition, seconds=10):
    """The first truthy value of `condition(driver)` within `seconds`, riding out PAGE_CHANGES."""
    return WebDriverWait(driver, seconds, ignored_exceptions=PAGE_CHANGES).until(condition)


def csp_violations(driver):
    """The Content Security Policy violations the browser logged since the last read of its log."""
    return [entry["message"] for entry in driver.get_log("browser") if "Content Security Policy" in entry["message"]]


def console_errors(driver):
    """The errors and CSP violations the browser logged since the last read of its log."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"
            or "Content Security Policy" in entry["message"]]


def problems(driver):
    """Everything a page must not show: console errors and CSP violations, how many injected payloads ran (each
    counts itself in window.__xss), and an alert's text. A clean page gives ([], 0, None)."""
    logged = console_errors(driver)
    ran = driver.execute_script("return window.__xss || 0")
    try:
        alert = driver.switch_to.alert.text
    except NoAlertPresentException:
        alert = None
    return logged, ran, alert


def accessibility_problems(driver):
    """What axe-core (the engine browsers' accessibility audits use) finds against WCAG 2 A and AA on the open page:
    unlabelled controls, missing names, low contrast and the like, as (rule, how many elements). A clean page gives []."""
    import axe_selenium_python
    script = pathlib.Path(axe_selenium_python.__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
    driver.execute_script(script.read_text())
    found = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}})"
        ".then((result) => done(result.violations.map((v) => [v.id, v.nodes.length])));")
    return [tuple(violation) for violation in found]


def scrolls_sideways(driver):
    """Whether the page is wider than the window (a person on a phone would have to scroll sideways)."""
    return driver.execute_script("return document.documentElement.scrollWidth > window.innerWidth")


# MARK: - nginx in front


def nginx_site(tmp_path, replica_ports, workers="1"):
    """The shipped site with only what a machine changes: replica ports, listen ports, certificate paths."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")], check=True, capture_output=True)
    site = (ROOT / "deploy" / "nginx" / "flux.conf").read_text()
    upstreams = "".join(f"    server 127.0.0.1:{port} max_fails=0;\n" for port in replica_ports)
    site, replaced = re.subn(r"(    server 127\.0\.0\.1:808\d max_fails=0;\n)+", upstreams, site)
    assert replaced == 1, "the shipped upstream block changed shape"
    http_port, https_port = free_port(), free_port()
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http_port};").replace("listen [::]:80;\n", "")
    site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;").replace("listen [::]:443 ssl http2;\n", "")
    site = site.replace("/etc/letsencrypt/live/www.example.com/fullchain.pem", str(tmp_path / "cert.pem"))
    site = site.replace("/etc/letsencrypt/live/www.example.com/privkey.pem", str(tmp_path / "key.pem"))
    (tmp_path / "flux.conf").write_text(site)
    user = "user root;\n" if os.geteuid() == 0 else ""
    (tmp_path / "nginx.conf").write_text(f"""{user}worker_processes {workers};
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log {tmp_path}/access.log;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    include {tmp_path}/flux.conf;
}}
""")
    return http_port, https_port


def nginx_command(directory, binary="nginx"):
    """The command line of the nginx whose prefix directory nginx_site wrote."""
    return [binary, "-p", str(directory), "-c", str(directory / "nginx.conf")]


def wait_for_nginx(directory):
    """nginx forks into the background: it serves once its master has written the pid file."""
    assert wait_until(lambda: (directory / "nginx.pid").exists(), 10, 0.05), "nginx wrote no pid file"


def raw_https_get(port, target, headers=None):
    """GET `target` exactly as written (no client-side normalisation of dots, slashes or escapes) over TLS to
    127.0.0.1:`port`, certificate unchecked; returns (status, lower-cased headers, body bytes)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    lines = [f"GET {target} HTTP/1.1", "Host: flux.test", "Connection: close",
             *(f"{name}: {value}" for name, value in (headers or {}).items())]
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as plain, \
            context.wrap_socket(plain, server_hostname="localhost") as tls:
        tls.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            while chunk := tls.recv(65536):
                answer += chunk
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
            pass
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    return int(status_line.split()[1]), {name.lower(): value for name, _, value in (line.partition(": ") for line in header_lines)}, body
