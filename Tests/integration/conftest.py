"""The pytest fixtures and hooks of the integration suite; the plain helpers they use are in helpers.py.

FLUX_BIN names the binary (default .build/debug/flux). The PostgreSQL tests need the throwaway cluster
that scripts/test starts (FLUX_TEST_DATABASE_URL, FLUX_PG_BIN, FLUX_PGDATA).
"""
import json
import os
import shutil
import subprocess
import uuid

import pytest

from helpers import STRONG_SECRET, FluxServer, clean_env, nginx_command, nginx_site, wait_for_nginx
from oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, pkcs8_pem

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
    wait_for_nginx(tmp_path)
    yield {"https": f"https://127.0.0.1:{https_port}", "https_port": https_port, "http": f"http://127.0.0.1:{http_port}",
           "replicas": replicas}
    subprocess.run([*command, "-s", "stop"], capture_output=True)
    for replica in replicas:
        replica.stop()


@pytest.fixture
def provider():
    """The local OpenID Connect provider (oidc_provider.py), standing in for Google."""
    running = Provider()
    yield running
    running.stop()


@pytest.fixture
def apple_provider():
    """The local OpenID Connect provider behaving like Sign in with Apple (form_post, ES256 client secrets)."""
    running = Provider(apple=True)
    yield running
    running.stop()


@pytest.fixture
def flux_with_apple(serve, provider, apple_provider):
    """`flux serve` with Google sign-in at `provider` and Sign in with Apple at `apple_provider`, holding the private
    half of the key pair whose public half the provider checks client secrets with."""
    return serve(OIDC_GOOGLE_ISSUER=provider.url, OIDC_GOOGLE_CLIENT_ID=CLIENT_ID, OIDC_GOOGLE_CLIENT_SECRET=CLIENT_SECRET,
                 **apple_provider.flux_env(pkcs8_pem(apple_provider.client_key)))


@pytest.fixture
def flux(workdir, provider):
    """`flux serve` with Google sign-in pointed at `provider`."""
    server = FluxServer(workdir, clean_env(OIDC_GOOGLE_ISSUER=provider.url, OIDC_GOOGLE_CLIENT_ID=CLIENT_ID,
                                           OIDC_GOOGLE_CLIENT_SECRET=CLIENT_SECRET))
    server.env["PUBLIC_URL"] = server.url
    server.start()
    yield server
    server.stop()
