"""Fixtures that run the real `flux` binary as a subprocess.

FLUX_BIN names the binary (default .build/debug/flux). The PostgreSQL tests need the throwaway cluster
that scripts/test starts (FLUX_TEST_DATABASE_URL, FLUX_PG_BIN, FLUX_PGDATA).
"""
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
import uuid

import pytest
import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
FLUX_BIN = pathlib.Path(os.environ.get("FLUX_BIN", ROOT / ".build" / "debug" / "flux"))
STRONG_SECRET = "q4Jm7X1c2ZrV+p9nW0s3bKfT8yLhE6aGdUoR5iNtQwMzSvHxCkPjYlBe"
# A production configuration needs one (flux doctor fails without it).
METRICS_TOKEN = "mT9vQ2xK7wR4nY8pL3sD6fJ1hG5cB0zAeU"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**values):
    """Only what a newcomer's shell has, plus `values`: no Flux variable leaks in from the caller."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    env.update({key: str(value) for key, value in values.items() if value is not None})
    return env


def run_flux(args, env, cwd, timeout=60):
    return subprocess.run([str(FLUX_BIN), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


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


# The warnings and errors each failed test's servers logged, printed after the run: CI keeps only the
# output's tail, and a failure seen from the client side (a 500, a browser timeout) is explained here.
_failed_server_logs = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if report.failed:
        item.flux_failed = True


def pytest_terminal_summary(terminalreporter):
    for test, line in _failed_server_logs:
        terminalreporter.write_line(f"flux log of failed {test}: {line}"[:400])


def _worth_keeping(line):
    try:
        return json.loads(line).get("level") not in ("trace", "debug", "info", "notice")
    except ValueError:
        return bool(line.strip())


@pytest.fixture
def workdir(tmp_path):
    return tmp_path


@pytest.fixture
def serve(request, workdir):
    servers = []

    def start(env=None, **values):
        server = FluxServer(workdir, env if env is not None else clean_env(**values)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
    if getattr(request.node, "flux_failed", False):
        for server in servers:
            kept = [line for line in server.log_text().splitlines() if _worth_keeping(line)]
            _failed_server_logs.extend((request.node.name, line) for line in kept[-15:])


def postgres_settings():
    names = ("FLUX_TEST_DATABASE_URL", "FLUX_PG_BIN", "FLUX_PGDATA")
    if not all(os.environ.get(name) for name in names):
        pytest.skip("needs the throwaway PostgreSQL cluster that scripts/test starts")
    return {name: os.environ[name] for name in names}


def as_cluster_owner(command):
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture
def postgres_database():
    """A fresh database on the throwaway cluster; yields its URL and the cluster's control paths."""
    settings = postgres_settings()
    name = "flux_it_" + uuid.uuid4().hex[:12]
    base = settings["FLUX_TEST_DATABASE_URL"]
    psql = [os.path.join(settings["FLUX_PG_BIN"], "psql"), base, "-v", "ON_ERROR_STOP=1", "-q", "-c"]
    subprocess.run([*psql, f"CREATE DATABASE {name}"], check=True, capture_output=True)
    yield dict(settings, url=base.rsplit("/", 1)[0] + "/" + name)
    subprocess.run([*psql, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], capture_output=True)


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


@pytest.fixture(params=[2])
def nginx_in_front(request, postgres_database, tmp_path):
    """The shipped nginx site in front of `request.param` production replicas on one PostgreSQL database (used by
    test_deploy.py and test_attacks.py)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        pytest.skip("nginx is not installed (scripts/test installs it)")
    env = clean_env(FLUX_ENV="production", SESSION_SECRET=STRONG_SECRET, DATABASE_URL=postgres_database["url"],
                    TRUSTED_PROXIES="127.0.0.1", PUBLIC_URL="https://flux.test")
    replicas = []
    for index in range(request.param):
        directory = tmp_path / f"replica{index}"
        directory.mkdir()
        replicas.append(FluxServer(directory, env).start())
    http_port, https_port = nginx_site(tmp_path, [replica.port for replica in replicas])
    command = nginx_command(tmp_path, nginx)
    check = subprocess.run([*command, "-t"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    subprocess.run(command, check=True)
    deadline = time.monotonic() + 10
    while not (tmp_path / "nginx.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    yield {"https": f"https://127.0.0.1:{https_port}", "https_port": https_port, "http": f"http://127.0.0.1:{http_port}",
           "replicas": replicas}
    subprocess.run([*command, "-s", "stop"], capture_output=True)
    for replica in replicas:
        replica.stop()




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
