"""Connection deadlines and caps on the real binary, over real sockets, with short deadlines set for the test:
slow headers get a 408 and a close at the header deadline, a dribbling body is cut off, an idle keep-alive
connection is closed, an honest slow upload above the rate completes byte-identical, a connection past the
per-address cap is closed at once, a WebSocket that answers pings outlives every HTTP deadline, malformed
requests get a 4xx and a close logged once, and running out of descriptors neither spins nor crashes."""
import json
import os
import resource
import select
import socket
import subprocess
import threading
import time
import uuid

import pytest
import requests
from websockets.sync.client import connect as websocket

from helpers import FLUX_BIN, FluxServer, clean_env, csrf_session, login, register, run_flux, wait_until

SHORT = dict(HTTP_HEADER_TIMEOUT="2", HTTP_IDLE_TIMEOUT="2")


def open_socket(server, source="127.0.0.1"):
    connection = socket.socket()
    connection.bind((source, 0))
    connection.settimeout(15)
    connection.connect(("127.0.0.1", server.port))
    return connection


def read_until_closed(connection):
    """Everything the server sends until it closes; a reset after the answer counts as a close."""
    data = b""
    try:
        while chunk := connection.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def status_of(answer):
    return int(answer.split(b" ")[1]) if answer.startswith(b"HTTP/1.1 ") else None


def refused_lines(server):
    return [entry for entry in server.log_entries() if entry.get("message") == "request refused"]


def metric(server, name):
    text = requests.get(server.url + "/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def test_slow_headers_get_408_and_a_close_at_the_header_deadline(serve):
    server = serve(HTTP_HEADER_TIMEOUT="2", HTTP_IDLE_TIMEOUT="60")
    connection = open_socket(server)
    connection.sendall(b"GET /api/health HTTP/1.1\r\nHost: flux\r\n")
    started = time.monotonic()
    # A header byte every half second does not keep it open: the deadline runs from the first byte.
    for _ in range(3):
        time.sleep(0.5)
        connection.sendall(b"X-Slow: 1\r\n")
    answer = read_until_closed(connection)
    elapsed = time.monotonic() - started
    assert status_of(answer) == 408, answer
    assert b'"code":"request_timeout"' in answer
    assert 1.9 <= elapsed <= 5, elapsed
    assert metric(server, 'flux_connections_closed_total{reason="header_timeout"}') == 1


def test_an_idle_keep_alive_connection_is_closed(serve):
    server = serve(**SHORT)
    connection = open_socket(server)
    connection.sendall(b"GET /api/health/live HTTP/1.1\r\nHost: flux\r\n\r\n")
    first = connection.recv(65536)
    assert status_of(first) == 200
    started = time.monotonic()
    rest = read_until_closed(connection)
    assert rest == b""
    assert 1.9 <= time.monotonic() - started <= 5


def test_a_dribbling_body_is_cut_off(serve):
    server = serve(HTTP_HEADER_TIMEOUT="2", HTTP_IDLE_TIMEOUT="60", HTTP_BODY_MIN_RATE="1000")
    # A CSRF pair, so the upload handler reads the body rather than refusing the request at its head.
    session = csrf_session(server)
    token = session.headers["X-CSRF-Token"]
    cookies = "; ".join(f"{name}={value}" for name, value in session.cookies.get_dict().items())
    connection = open_socket(server)
    connection.sendall(b"POST /api/public-upload HTTP/1.1\r\nHost: flux\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                       + f"Cookie: {cookies}\r\nX-CSRF-Token: {token}\r\n".encode()
                       + b"Content-Length: 1000000\r\n\r\n--b\r\n")
    started = time.monotonic()
    answer = b""
    try:
        while time.monotonic() - started < 30:
            connection.sendall(b"x" * 20)
            connection.settimeout(0.5)
            try:
                chunk = connection.recv(65536)
            except socket.timeout:
                continue
            answer += chunk
            if not chunk:
                break
    except (BrokenPipeError, ConnectionResetError):
        pass
    elapsed = time.monotonic() - started
    # Cut after the 5 s grace, with room for a loaded machine; never held for the 30 s the client would take.
    assert 4.5 <= elapsed <= 15, elapsed
    assert status_of(answer) == 408 and b"too slowly" in answer, answer
    assert metric(server, 'flux_connections_closed_total{reason="body_rate"}') == 1
    assert requests.get(server.url + "/api/health", timeout=5).status_code == 200


def png(size):
    """A PNG signature and IHDR followed by filler: judged by content as image/png."""
    head = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")
    return head + os.urandom(size - len(head))


def test_an_honest_slow_upload_above_the_rate_completes_byte_identical(serve):
    server = serve(HTTP_BODY_MIN_RATE="2000", HTTP_HEADER_TIMEOUT="2", HTTP_IDLE_TIMEOUT="2")
    session = csrf_session(server)
    content = png(36_000)
    boundary = "b" + uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()

    def slowly():
        # About 4 kB/s in uneven pieces for about 9 s: past the grace and the whole 10 s window's start,
        # twice the configured minimum, slower than any idle or header deadline.
        for start in range(0, len(body), 1_200):
            yield body[start:start + 1_200]
            time.sleep(0.3)

    started = time.monotonic()
    response = session.post(server.url + "/api/public-upload", data=slowly(), timeout=60,
                            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert time.monotonic() - started > 6
    assert response.status_code == 201, response.text
    stored = session.get(server.url + "/api/assets/" + response.json()["assetId"], timeout=10)
    assert stored.status_code == 200 and stored.content == content


def test_a_connection_past_the_per_address_cap_is_closed_at_once(serve):
    server = serve(HTTP_MAX_CONNECTIONS_PER_ADDRESS="3")
    connections = [open_socket(server, "127.0.0.2") for _ in range(4)]
    # One is closed at once without a byte; which one depends on the order the event loops finish setting
    # them up, not on the order they were opened.
    readable, _, _ = select.select(connections, [], [], 2)
    assert len(readable) == 1 and read_until_closed(readable[0]) == b""
    held = [connection for connection in connections if connection not in readable]
    assert select.select(held, [], [], 0.5)[0] == []
    # The held ones still work, and other addresses are not affected.
    held[0].sendall(b"GET /api/health/live HTTP/1.1\r\nHost: flux\r\n\r\n")
    assert status_of(held[0].recv(65536)) == 200
    assert requests.get(server.url + "/api/health", timeout=5).status_code == 200
    assert metric(server, 'flux_connections_refused_total{reason="per_address"}') == 1
    for connection in held:
        connection.close()
    # Closing frees the places.
    def health_from_the_capped_address():
        again = open_socket(server, "127.0.0.2")
        again.sendall(b"GET /api/health/live HTTP/1.1\r\nHost: flux\r\n\r\n")
        return status_of(read_first(again))

    assert wait_until(health_from_the_capped_address, enough=lambda status: status == 200) == 200, \
        "the closed connections' places were not freed"


def test_a_trusted_proxy_is_exempt_from_the_per_address_cap(serve):
    server = serve(HTTP_MAX_CONNECTIONS_PER_ADDRESS="2", TRUSTED_PROXIES="127.0.0.5")
    proxy = [open_socket(server, "127.0.0.5") for _ in range(5)]
    assert select.select(proxy, [], [], 1)[0] == []
    for connection in proxy:
        connection.sendall(b"GET /api/health/live HTTP/1.1\r\nHost: flux\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n")
        assert status_of(connection.recv(65536)) == 200
    others = [open_socket(server, "127.0.0.6") for _ in range(3)]
    assert len(select.select(others, [], [], 2)[0]) == 1


def read_first(connection):
    try:
        return connection.recv(65536)
    except ConnectionResetError:
        return b""


def test_a_websocket_that_answers_pings_outlives_every_http_deadline(serve):
    server = serve(HTTP_HEADER_TIMEOUT="1", HTTP_IDLE_TIMEOUT="1", HTTP_BODY_MIN_RATE="100000")
    password = "deadline passphrase 2026"
    register(server, "owner@deadlines.example", password, name="Owner", company="Deadlines Ltd")
    token = login(server, "owner@deadlines.example", password).json()["accessToken"]
    bearer = {"Authorization": "Bearer " + token}
    thread = requests.post(server.url + "/api/portal/conversations", json={"kind": "channel", "title": "Ops"}, headers=bearer,
                           timeout=10).json()["id"]
    # The client never pings on its own: only answering the server's pings (every 20 s) keeps it alive.
    with websocket(server.url.replace("http", "ws") + "/api/portal/realtime", additional_headers=bearer, open_timeout=10,
                   ping_interval=None) as socket_:
        time.sleep(23)
        socket_.send(json.dumps({"type": "subscribe", "threadIds": [thread]}))
        assert json.loads(socket_.recv(timeout=10))["type"] == "subscribed"


BAD_INPUT = [
    ("a 1 MB header line", b"GET / HTTP/1.1\r\nHost: flux\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n", 431),
    ("10,000 headers", b"GET / HTTP/1.1\r\nHost: flux\r\n" + b"".join(b"X-%d: v\r\n" % n for n in range(10_000)) + b"\r\n", 431),
    ("a request line without a version", b"GET /api/health\r\nHost: flux\r\n\r\n", 400),
    ("a NUL in a header", b"GET / HTTP/1.1\r\nHost: flux\r\nX-A: a\x00b\r\n\r\n", 400),
    ("a bare CR in a header", b"GET / HTTP/1.1\r\nHost: flux\r\nX-A: a\rb: c\r\n\r\n", 400),
]


@pytest.mark.parametrize("name,payload,status", BAD_INPUT, ids=[case[0] for case in BAD_INPUT])
def test_malformed_requests_get_a_4xx_and_a_close_logged_once(serve, name, payload, status):
    server = serve()
    connection = open_socket(server)
    sender = threading.Thread(target=lambda: send_ignoring_close(connection, payload))
    sender.start()
    answer = read_until_closed(connection)
    sender.join(timeout=15)
    assert status_of(answer) == status, (name, answer[:200])
    assert b'"error":{"code":' in answer
    assert server.process.poll() is None
    assert requests.get(server.url + "/api/health", timeout=5).status_code == 200
    lines = refused_lines(server)
    assert len(lines) == 1 and str(lines[0]["status"]) == str(status) and lines[0]["level"] == "notice", lines


def send_ignoring_close(connection, payload):
    try:
        connection.sendall(payload)
    except (BrokenPipeError, ConnectionResetError):
        pass


def test_pipelined_requests_past_the_limit_are_answered_then_refused(serve):
    server = serve()
    connection = open_socket(server)
    good = b"GET /api/health/live HTTP/1.1\r\nHost: flux\r\n\r\n"
    connection.sendall(good * 50 + b"GET / HTTP/1.1\r\nHost: flux\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n" + good * 50)
    answer = read_until_closed(connection)
    assert answer.count(b"HTTP/1.1 200 OK") == 50
    assert answer.count(b"HTTP/1.1 431") == 1 and answer.index(b"HTTP/1.1 431") > answer.rindex(b"HTTP/1.1 200")
    assert len(refused_lines(server)) == 1
    assert server.process.poll() is None


class LimitedFluxServer(FluxServer):
    """`flux serve` with a small descriptor limit (soft and hard)."""

    def __init__(self, cwd, env, descriptors):
        super().__init__(cwd, env)
        self.descriptors = descriptors

    def start(self, wait=True):
        self._log = open(self.log_path, "w")
        limit = self.descriptors
        self.process = subprocess.Popen([str(FLUX_BIN), "serve"], env=self.env, cwd=self.cwd, stdout=self._log,
                                        stderr=subprocess.STDOUT,
                                        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit)))
        self.wait_live()
        return self


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_flood_past_the_total_cap_neither_spins_nor_crashes_and_health_answers(workdir):
    # A descriptor limit of 256 leaves room for 192 connections (a quarter of the reserve more for the local
    # host): the flood's other 208 are closed as soon as they are accepted, never reaching EMFILE.
    server = LimitedFluxServer(workdir, clean_env(), 256).start()
    try:
        clients = [open_socket(server, f"127.0.{1 + n // 100}.{2 + n % 100}") for n in range(400)]
        time.sleep(1)
        before = cpu_seconds(server.process.pid)
        time.sleep(3)
        spent = cpu_seconds(server.process.pid) - before
        assert spent < 1.0, spent
        # Health from the local host gets through while the flood holds every other place.
        for path in ("/api/health", "/api/health/live"):
            assert requests.get(server.url + path, timeout=5).status_code == 200
        assert metric(server, 'flux_connections_refused_total{reason="total"}') >= 400 - 192
        assert 150 <= metric(server, "flux_connections_open") <= 192 + 16
        assert len(os.listdir(f"/proc/{server.process.pid}/fd")) < 256
        for client in clients:
            client.close()
        assert server.process.poll() is None
    finally:
        server.stop()


def test_doctor_checks_the_connection_limits(workdir):
    run_flux(["migrate", "--yes"], clean_env(), workdir)
    good = run_flux(["doctor"], clean_env(HTTP_HEADER_TIMEOUT="10", HTTP_MAX_CONNECTIONS_PER_ADDRESS="50"), workdir)
    assert "ok    connections: headers within 10 s, idle close after 75 s, request body at least 240 bytes/s" in good.stdout, good.stdout
    assert "ok    connection caps: 50 per client address" in good.stdout
    off = run_flux(["doctor"], clean_env(HTTP_BODY_MIN_RATE="0"), workdir)
    assert "warn  connections: HTTP_BODY_MIN_RATE is 0" in off.stdout, off.stdout
    for name, value in (("HTTP_HEADER_TIMEOUT", "0"), ("HTTP_IDLE_TIMEOUT", "forever"), ("HTTP_MAX_CONNECTIONS", "99999999")):
        bad = run_flux(["doctor"], clean_env(**{name: value}), workdir)
        assert bad.returncode != 0 and f"FAIL  {name}: must be a whole number from" in bad.stdout, bad.stdout
