"""Fixtures that run the real `flux` binary as a subprocess.

FLUX_BIN names the binary (default .build/debug/flux). The PostgreSQL tests need the throwaway cluster
that scripts/test starts (FLUX_TEST_DATABASE_URL, FLUX_PG_BIN, FLUX_PGDATA).
"""
import json
import os
import pathlib
import signal
import socket
import subprocess
import time
import uuid

import pytest
import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
FLUX_BIN = pathlib.Path(os.environ.get("FLUX_BIN", ROOT / ".build" / "debug" / "flux"))
STRONG_SECRET = "q4Jm7X1c2ZrV+p9nW0s3bKfT8yLhE6aGdUoR5iNtQwMzSvHxCkPjYlBe"


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
