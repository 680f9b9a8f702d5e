"""The attacks a security review tried against Flux, each run end to end against the real binary as an
attacker would run it. Each test names its attack and asserts that it fails."""
import ipaddress
import json
import os
import subprocess
import time

import pyotp
import pytest
import requests
from websockets.sync.client import connect

from helpers import (csrf_session, google_sign_in, login, me, nginx_command, nginx_site, raw_https_get, register as sign_up,
                     run_flux, wait_for_mail, wait_for_nginx, wait_until)

PASSWORD = "attack surface passphrase"
# The test certificate is self-signed for this run; what is tested is what reaches Flux, not the PKI.
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")

PNG = bytes([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]) + bytes([7]) * 6000


def register(server, email, company="Acme", **headers):
    sign_up(server, email, PASSWORD, session=csrf_session(server, **headers), company=company)


def sign_in_as(server, email, **headers):
    answered = login(server, email, PASSWORD, **headers)
    assert answered.status_code == 200, answered.text
    return answered.json()


def bearer(tokens):
    return {"Authorization": "Bearer " + tokens["accessToken"]}


def verify_address(server, workdir):
    token = wait_for_mail(workdir, "/account/verify-email#token=").split("#token=")[1]
    assert csrf_session(server).post(server.url + "/api/auth/email/verify", json={"token": token}, timeout=10).status_code == 204


def staff(server, email, role):
    created = run_flux(["create-admin", "--email", email, "--role", role], server.env, server.cwd, input=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    return sign_in_as(server, email)


def channel(server, tokens, text):
    thread = requests.post(server.url + "/api/portal/conversations", headers=bearer(tokens), timeout=10,
                           json={"kind": "channel", "title": "General"}).json()["id"]
    message = requests.post(f"{server.url}/api/portal/conversations/{thread}/messages", headers=bearer(tokens), timeout=10,
                            json={"body": text})
    assert message.status_code == 201, message.text
    return thread, message.json()["id"]


def socket_frames(server, tokens, thread, after, seconds=2.0):
    """Every frame the realtime socket sends within `seconds` of subscribing to `thread` with `after`."""
    frames = []
    url = server.url.replace("http://", "ws://") + "/api/portal/realtime"
    with connect(url, additional_headers=bearer(tokens), open_timeout=10) as socket:
        socket.send(json.dumps({"type": "subscribe", "threadIds": [thread], "after": after}))
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                frames.append(socket.recv(timeout=max(0.01, deadline - time.monotonic())))
            except TimeoutError:
                break
    return frames


def test_google_sign_in_cannot_hand_a_pre_registered_account_to_its_squatter(flux, provider):
    # The attacker registers the victim's address with a password of their own and signs in.
    register(flux, "oidc-user@example.com")
    squatter = sign_in_as(flux, "oidc-user@example.com")
    # The victim later signs in with Google for the first time.
    browser, callback = google_sign_in(flux)
    assert callback.status_code == 303
    assert me(flux, browser).json()["email"] == "oidc-user@example.com"
    # The attacker's password, access token and refresh token are all dead.
    assert login(flux, "oidc-user@example.com", PASSWORD).status_code == 401
    assert requests.get(flux.url + "/api/auth/me", headers=bearer(squatter), timeout=5).status_code == 401
    refreshed = csrf_session(flux).post(flux.url + "/api/auth/refresh", json={"refreshToken": squatter["refreshToken"]}, timeout=5)
    assert refreshed.status_code == 401


def test_guessing_totp_codes_from_rotating_ipv6_addresses_behind_a_trusted_proxy(serve):
    server = serve(TRUSTED_PROXIES="127.0.0.1")
    # The victim has a second factor; the attacker has the password.
    register(server, "victim@example.com", **{"X-Forwarded-For": "2001:db8:ffff::1"})
    victim = sign_in_as(server, "victim@example.com", **{"X-Forwarded-For": "2001:db8:ffff::1"})
    setup = csrf_session(server).post(server.url + "/api/auth/mfa/totp/setup", json={"password": PASSWORD}, headers=bearer(victim), timeout=10)
    assert setup.status_code == 200, setup.text
    totp = pyotp.parse_uri(setup.json()["otpauthUri"])
    confirmed = csrf_session(server).post(server.url + "/api/auth/mfa/totp/confirm", json={"code": totp.now()}, headers=bearer(victim), timeout=10)
    assert confirmed.status_code == 200, confirmed.text
    wrong = [code for code in (f"{n:06d}" for n in range(100_000, 100_200)) if not totp.verify(code, valid_window=2)]

    # Every sign-in and every guess from a fresh /64 of the attacker's /48: no address is seen twice.
    attacker = csrf_session(server)
    networks = ipaddress.ip_network("2001:db8:1::/48").subnets(new_prefix=64)
    examined, waited = 0, 0
    for round_number in range(10):
        challenge = attacker.post(server.url + "/api/auth/login", timeout=10, headers={"X-Forwarded-For": str(next(networks)[1])},
                                  json={"email": "victim@example.com", "password": PASSWORD}).json()["challenge"]
        for attempt in range(3):
            guess = attacker.post(server.url + "/api/auth/mfa/verify", timeout=10, headers={"X-Forwarded-For": str(next(networks)[1])},
                                  json={"challenge": challenge, "code": wrong[round_number * 3 + attempt]})
            assert guess.status_code in (401, 429), guess.text
            examined += guess.status_code == 401 and guess.json()["error"]["code"] == "invalid_code"
            waited += guess.status_code == 429
    # Before the fix each correct password gave five fresh guesses (30 examined here); the account's own count
    # lets five through, then 1, 2, 4 … seconds apart.
    assert examined <= 9, examined
    assert waited >= 20, waited

    # Rotating through one /64 does not make new clients either: its 10-a-minute bucket is shared.
    subnet = ipaddress.ip_network("2001:db8:2:3::/64")
    statuses = [attacker.post(server.url + "/api/auth/mfa/verify", timeout=10, headers={"X-Forwarded-For": str(subnet[1000 + index * 7919])},
                              json={"challenge": "x", "code": "000000"}).status_code for index in range(12)]
    assert statuses.count(429) >= 2, statuses


def test_a_sales_account_cannot_read_or_subscribe_to_a_clients_conversation(serve):
    server = serve()
    register(server, "client@example.com")
    client = sign_in_as(server, "client@example.com")
    thread, message = channel(server, client, "our margins are 3 %")
    sales = staff(server, "sales@example.com", "sales")
    assert requests.get(server.url + "/api/portal/conversations", headers=bearer(sales), timeout=10).status_code == 403
    for method, path in [("GET", f"/api/portal/conversations/{thread}"), ("GET", f"/api/portal/conversations/{thread}/messages"),
                         ("POST", f"/api/portal/conversations/{thread}/messages"), ("DELETE", f"/api/portal/messages/{message}")]:
        answered = requests.request(method, server.url + path, headers=bearer(sales), json={"body": "hi"}, timeout=10)
        assert answered.status_code == 403, (method, path, answered.status_code)
        assert "margins" not in answered.text
    url = server.url.replace("http://", "ws://") + "/api/portal/realtime"
    try:
        with connect(url, additional_headers=bearer(sales), open_timeout=10) as socket:
            socket.send(json.dumps({"type": "subscribe", "threadIds": [thread], "after": 0}))
            raise AssertionError("the upgrade was accepted: " + socket.recv(timeout=2))
    except Exception as refused:  # websockets raises InvalidStatus for a refused upgrade
        assert "403" in str(refused), refused
    # An engineer still works with clients.
    engineer = staff(server, "engineer@example.com", "engineer")
    assert requests.get(f"{server.url}/api/portal/conversations/{thread}/messages", headers=bearer(engineer), timeout=10).status_code == 200


def test_a_deleted_message_cannot_be_replayed_over_the_websocket(serve):
    server = serve()
    register(server, "writer@example.com")
    writer = sign_in_as(server, "writer@example.com")
    thread, message = channel(server, writer, "the door code is 4711")
    assert requests.delete(f"{server.url}/api/portal/messages/{message}", headers=bearer(writer), timeout=10).status_code == 204
    frames = socket_frames(server, writer, thread, after=0)
    assert any('"message.deleted"' in frame for frame in frames), frames
    assert not any("4711" in frame for frame in frames), frames


def test_an_organization_export_holds_no_direct_thread_of_others(serve, workdir):
    server = serve()
    register(server, "admin@firm.example", company="Firm")
    verify_address(server, workdir)
    admin = sign_in_as(server, "admin@firm.example")
    members, used = {}, set()
    for name in ("alice", "bob"):
        invited = requests.post(server.url + "/api/portal/team/invitations", headers=bearer(admin), timeout=10,
                                json={"email": f"{name}@firm.example", "role": "client_member"})
        assert invited.status_code == 201, invited.text
        # The newest invitation is the previous one until the outbox delivers this one (a second or two).
        link = wait_until(lambda: wait_for_mail(workdir, "/app/accept-invitation#invitation="), enough=lambda found: found not in used)
        used.add(link)
        fragment = dict(part.split("=", 1) for part in link.split("#", 1)[1].split("&"))
        accepted = csrf_session(server).post(server.url + "/api/portal/team/accept", timeout=10, json={
            "invitationId": fragment["invitation"], "token": fragment["token"], "password": PASSWORD, "name": name})
        assert accepted.status_code == 201, accepted.text
        members[name] = sign_in_as(server, f"{name}@firm.example")
    bob_id = requests.get(server.url + "/api/auth/me", headers=bearer(members["bob"]), timeout=10).json()["id"]
    direct = requests.post(server.url + "/api/portal/conversations", headers=bearer(members["alice"]), timeout=10,
                           json={"kind": "direct", "participantIds": [bob_id]}).json()["id"]
    said = requests.post(f"{server.url}/api/portal/conversations/{direct}/messages", headers=bearer(members["alice"]), timeout=10,
                         json={"body": "between us: I am leaving in May"})
    assert said.status_code == 201
    tenant = requests.get(server.url + "/api/auth/me", headers=bearer(admin), timeout=10).json()["tenant"]["id"]
    export = requests.get(f"{server.url}/api/tenants/{tenant}/export", headers=bearer(admin), timeout=10)
    assert export.status_code == 200
    assert "leaving in May" not in export.text
    assert direct not in [conversation["thread"]["id"] for conversation in export.json()["conversations"]]


def test_public_uploads_cannot_fill_the_disk(serve, workdir):
    server = serve(TRUSTED_PROXIES="127.0.0.1", PUBLIC_UPLOAD_QUOTA_BYTES=str(len(PNG) * 3))
    statuses, kept = [], []
    for index in range(6):
        session = csrf_session(server)
        answered = session.post(server.url + "/api/public-upload", headers={"X-Forwarded-For": f"198.51.100.{index + 1}"},
                                files={"file": (f"p{index}.png", PNG, "image/png")}, timeout=10)
        statuses.append(answered.status_code)
        if answered.status_code == 201:
            kept.append(answered.json()["assetId"])
    assert statuses == [201, 201, 201, 507, 507, 507], statuses
    assert requests.get(server.url + "/api/health", timeout=5).json()["uploads"] == "full"
    for asset in kept:
        assert requests.get(f"{server.url}/api/assets/{asset}", timeout=5).content == PNG
    assert len([path for path in (workdir / "data" / "uploads").iterdir() if path.is_file()]) == 3


def test_rotating_ipv6_addresses_in_one_slash_64_share_nginx_limits(serve, tmp_path):
    """The shipped nginx config keys its limits by /64: a host rotating through its /64 is one client."""
    import http.client
    import ssl
    import shutil
    import uuid

    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert os.path.exists(nginx), "scripts/test installs nginx"
    addresses = {"first": "2001:db8:a:1::11", "rotated": "2001:db8:a:1::22", "neighbour": "2001:db8:a:2::11"}
    for address in addresses.values():
        subprocess.run(["ip", "-6", "addr", "add", address + "/128", "dev", "lo", "nodad"], check=True, capture_output=True)
    flux_server = serve()
    _, https_port = nginx_site(tmp_path, [flux_server.port])
    site = (tmp_path / "flux.conf").read_text()
    site = site.replace(f"listen 127.0.0.1:{https_port} ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;\n    listen [::1]:{https_port} ssl http2;")
    (tmp_path / "flux.conf").write_text(site)
    command = nginx_command(tmp_path, nginx)
    subprocess.run(command, check=True, capture_output=True)
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE

    def fetch(source):
        connection = http.client.HTTPSConnection("::1", https_port, source_address=(addresses[source], 0), context=insecure, timeout=10)
        connection.request("GET", f"/api/assets/{uuid.uuid4()}")
        status = connection.getresponse().status
        connection.close()
        return status

    try:
        wait_for_nginx(tmp_path)
        # The zone allows 5 a minute with a burst of 5: six pass, then the /64 waits, whichever address it uses.
        assert [fetch("first") for _ in range(6)] == [404] * 6
        assert fetch("rotated") == 429
        assert fetch("neighbour") == 404
    finally:
        subprocess.run([*command, "-s", "stop"], capture_output=True)
        for address in addresses.values():
            subprocess.run(["ip", "-6", "addr", "del", address + "/128", "dev", "lo"], capture_output=True)


def test_metrics_is_not_reachable_through_nginx_by_any_spelling(nginx_in_front):
    """The attacker asks the public site for /metrics in every spelling nginx or Flux might treat as /metrics.
    Behind nginx every request reaches Flux from loopback, so a spelling that slipped past an exact-match block
    used to be served as a local scrape: request counts by route, the outbox backlog, process figures."""
    spellings = ["/metrics", "/metrics/", "/metrics?x", "/metrics/?x=1", "//metrics", "/./metrics", "/api/../metrics",
                 "/%6Detrics", "/%6detrics/", "/metrics%2F", "/metrics;x", "/metrics/.", "/metrics#x", "/METRICS",
                 "/Metrics/", "http://flux.test/metrics/"]
    for target in spellings:
        for headers in ({}, {"X-Forwarded-For": "127.0.0.1"}, {"Authorization": "Bearer guess"}):
            status, _, body = raw_https_get(nginx_in_front["https_port"], target, headers)
            assert status != 200 and b"http_requests_total" not in body, (target, headers, status)
    # A second proxy, or nginx with its block removed, relays from loopback too: production Flux still answers
    # nobody without METRICS_TOKEN.
    replica = nginx_in_front["replicas"][0]
    for path in ("/metrics", "/metrics/"):
        relayed = requests.get(replica.url + path, headers={"X-Forwarded-For": "203.0.113.7"}, timeout=5)
        assert relayed.status_code == 403 and "http_requests_total" not in relayed.text
        direct = requests.get(replica.url + path, timeout=5)
        assert direct.status_code == 403 and "http_requests_total" not in direct.text
