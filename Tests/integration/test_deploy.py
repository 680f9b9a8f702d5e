"""The shipped deployment files: the systemd unit verifies, and nginx in front of two Flux replicas on one
PostgreSQL works live: no 502, HSTS over HTTPS, only the address nginx saw is believed, and the portal's
WebSocket passes through to either replica and gets messages posted through the other."""
import os
import re
import shutil
import subprocess
import threading
import time

import json
import ssl
from types import SimpleNamespace

import pytest
import requests
from websockets.sync.client import connect as websocket

from conftest import FLUX_BIN, ROOT, STRONG_SECRET, FluxServer, clean_env, free_port

# The test certificate is self-signed for this run; what is tested is nginx's proxying, not the PKI.
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


def test_systemd_unit_verifies(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    unit = (ROOT / "deploy" / "flux.service").read_text().replace("/usr/local/bin/flux", str(FLUX_BIN))
    path = tmp_path / "flux.service"
    path.write_text(unit)
    result = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr
    for directive in ("DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes", "StateDirectory=flux",
                      "RestrictAddressFamilies=", "Restart=on-failure", "StartLimitBurst=", "EnvironmentFile=/etc/flux/flux.env"):
        assert directive in unit


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
    yield {"https": f"https://127.0.0.1:{https_port}", "http": f"http://127.0.0.1:{http_port}", "replicas": replicas}
    subprocess.run([*command, "-s", "stop"], capture_output=True)
    for replica in replicas:
        replica.stop()


def test_requests_through_nginx_succeed_with_hsts(nginx_in_front):
    statuses = [requests.get(nginx_in_front["https"] + "/api/health", verify=False, timeout=5) for _ in range(40)]
    assert [response.status_code for response in statuses] == [200] * 40
    assert all(response.json()["db"] == "up" for response in statuses)
    assert statuses[0].headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"
    # Directly, over plain HTTP, Flux does not claim HTTPS.
    direct = requests.get(nginx_in_front["replicas"][0].url + "/api/health", timeout=5)
    assert "Strict-Transport-Security" not in direct.headers
    redirect = requests.get(nginx_in_front["http"] + "/api/health", allow_redirects=False, timeout=5)
    assert redirect.status_code == 301 and redirect.headers["Location"].startswith("https://")


def test_only_the_address_nginx_saw_is_believed(nginx_in_front):
    # /api/csrf allows 60 a minute per address. Every request claims a new address; if Flux believed the
    # claim, none would ever be limited. nginx replaces the header with the address it saw, so they share
    # one bucket and are limited (the two replicas keep their buckets in PostgreSQL, shared).
    statuses = []
    started = time.monotonic()
    for n in range(300):
        statuses.append(requests.get(nginx_in_front["https"] + "/api/csrf", verify=False, timeout=5,
                                     headers={"X-Forwarded-For": f"10.{n // 256}.{n % 256}.1"}).status_code)
        if statuses[-1] == 429:
            break
    elapsed = time.monotonic() - started
    assert set(statuses) <= {200, 429}
    # Refused after the burst of 60 plus the one-a-second refill while the loop ran; believing the claimed
    # addresses would have allowed all 300.
    assert statuses[-1] == 429 and statuses.count(200) <= 61 + elapsed, (len(statuses), elapsed)


def test_portal_websocket_through_nginx_reaches_both_replicas(nginx_in_front):
    front = SimpleNamespace(url=nginx_in_front["https"])
    visitor = requests.Session()
    visitor.headers["X-CSRF-Token"] = visitor.get(front.url + "/api/csrf", verify=False, timeout=5).json()["token"]
    password = "portal passphrase 2026"
    assert visitor.post(front.url + "/api/auth/register", verify=False, timeout=10, json={
        "email": "owner@ws.example", "password": password, "name": "Owner", "company": "Sockets Ltd"}).status_code == 202
    token = visitor.post(front.url + "/api/auth/login", json={"email": "owner@ws.example", "password": password},
                         verify=False, timeout=10).json()["accessToken"]
    bearer = {"Authorization": "Bearer " + token}
    created = requests.post(front.url + "/api/portal/conversations", json={"kind": "channel", "title": "Ops"}, headers=bearer,
                            verify=False, timeout=10)
    assert created.status_code == 201, created.text
    thread = created.json()["id"]
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    # nginx spreads the upgrades over both replicas; each socket must get what was posted through either.
    sockets = [websocket(front.url.replace("https", "wss") + "/api/portal/realtime", ssl=insecure, additional_headers=bearer,
                         open_timeout=10) for _ in range(4)]
    try:
        for socket in sockets:
            socket.send(json.dumps({"type": "subscribe", "threadIds": [thread]}))
            assert json.loads(socket.recv(timeout=10))["type"] == "subscribed"
        for n in range(2):
            posted = requests.post(f"{front.url}/api/portal/conversations/{thread}/messages", json={"body": f"through nginx {n}"},
                                   headers=bearer, verify=False, timeout=10)
            assert posted.status_code == 201, posted.text
        for socket in sockets:
            bodies = []
            while len(bodies) < 2:
                frame = json.loads(socket.recv(timeout=10))
                if frame["type"] == "message.created":
                    bodies.append(frame["data"]["body"])
            assert bodies == ["through nginx 0", "through nginx 1"]
    finally:
        for socket in sockets:
            socket.close()


def test_metrics_are_not_served_through_nginx(nginx_in_front):
    assert requests.get(nginx_in_front["https"] + "/metrics", verify=False, timeout=5).status_code == 404


@pytest.mark.parametrize("nginx_in_front", [3], indirect=True)
def test_rolling_restart_loses_no_request(nginx_in_front):
    """Each of three replicas in turn gets SIGTERM (drains, exits) and starts again while clients keep
    sending requests through nginx; every request must succeed."""
    results = []
    stop = threading.Event()

    def client():
        session = requests.Session()
        while not stop.is_set():
            try:
                results.append(session.get(nginx_in_front["https"] + "/api/health", verify=False, timeout=10).status_code)
            except requests.RequestException as error:
                results.append(type(error).__name__)

    clients = [threading.Thread(target=client) for _ in range(8)]
    for thread in clients:
        thread.start()
    time.sleep(1)
    for replica in nginx_in_front["replicas"]:
        assert replica.stop() == 0
        time.sleep(0.5)
        replica.start()
        time.sleep(1)
    stop.set()
    for thread in clients:
        thread.join()
    failures = [result for result in results if result != 200]
    print(f"rolling restart: {len(results)} requests, {len(failures)} failed")
    assert len(results) > 100
    assert failures == []
