"""The portal's WebSocket on the real binary, with real sockets on loopback: healthy sockets are never closed
by the pings meant for dead ones, a client that never answers pings is, a revoked session's socket closes at
once, and a client that loses its connection resumes with every event it missed exactly once, in order."""
import asyncio
import json
import os
import socket
import struct
import threading
import time

import requests
import websockets

from helpers import clean_env, csrf_session, register as sign_up

PING = 2
SOCKETS = int(os.environ.get("SOCKETS", "800"))
PASSWORD = "realtime passphrase 2026"


def address(n):
    # Each socket from its own address (flux believes X-Forwarded-For from loopback here), as a crowd of
    # users would connect, so the per-address limits see no flood.
    return f"10.34.{n // 256}.{n % 256}"


def sign_in(server, email, register=False):
    visitor = csrf_session(server)
    visitor.headers["X-Forwarded-For"] = address(60000)
    if register:
        sign_up(server, email, PASSWORD, session=visitor, name="Realtime", company="Sockets Ltd")
    answer = visitor.post(server.url + "/api/auth/login", json={"email": email, "password": PASSWORD}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["accessToken"]


def portal(serve, workdir, **values):
    server = serve(clean_env(DATA_DIR=workdir / "data", TRUSTED_PROXIES="127.0.0.1", LOG_LEVEL="warning", **values))
    token = sign_in(server, "owner@realtime.example", register=True)
    created = requests.post(server.url + "/api/portal/conversations", json={"kind": "channel", "title": "Ops"},
                            headers={"Authorization": "Bearer " + token}, timeout=10)
    assert created.status_code == 201, created.text
    return server, token, created.json()["id"]


def post(server, token, thread, body, sender=60001):
    answer = requests.post(f"{server.url}/api/portal/conversations/{thread}/messages", json={"body": body},
                           headers={"Authorization": "Bearer " + token, "X-Forwarded-For": address(sender)}, timeout=30)
    assert answer.status_code == 201, answer.text


async def open_socket(server, token, n, thread=None, after=None):
    # The client sends no pings of its own: only the server's are under test. It answers the server's by itself.
    ws = await websockets.connect(server.url.replace("http", "ws", 1) + "/api/portal/realtime", ping_interval=None,
                                  max_queue=None, open_timeout=60,
                                  additional_headers={"Authorization": "Bearer " + token, "X-Forwarded-For": address(n)})
    if thread:
        command = {"type": "subscribe", "threadIds": [thread]}
        if after is not None:
            command["after"] = after
        await ws.send(json.dumps(command))
        while json.loads(await asyncio.wait_for(ws.recv(), 60))["type"] != "subscribed":
            pass
    return ws


def pin(pid, cpus):
    """Pins every thread of `pid` (the threads it starts later inherit it)."""
    for task in os.listdir(f"/proc/{pid}/task"):
        os.sched_setaffinity(int(task), cpus)


def test_hundreds_of_healthy_sockets_outlive_many_ping_intervals(serve, workdir):
    server, token, thread = portal(serve, workdir, REALTIME_PING_SECONDS=PING)
    # The server on one core and the clients on another, its event loops kept busy by readers while the sockets
    # join: the conditions in which a pong could overtake WebSocketKit's "waiting for pong" flag when the
    # interval was set off the socket's loop (a thread that wakes a loop on its own core may be switched out
    # for it before it sets the flag).
    cpus = sorted(os.sched_getaffinity(0))
    pin(server.process.pid, {cpus[0]})
    if len(cpus) > 1:
        os.sched_setaffinity(0, set(cpus[1:]))

    async def run():
        reading = threading.Event()
        for n in range(50):
            post(server, token, thread, f"history {n}", sender=40000 + n)

        def reader(p):
            session = requests.Session()
            n = 0
            while not reading.is_set():
                session.get(f"{server.url}/api/portal/conversations/{thread}/messages?limit=50", timeout=30,
                           headers={"Authorization": "Bearer " + token, "X-Forwarded-For": address(41000 + 250 * p + n % 250)})
                n += 1

        readers = [threading.Thread(target=reader, args=(p,)) for p in range(8)]
        for one in readers:
            one.start()
        try:
            # All at once, as after a deploy.
            sockets = await asyncio.gather(*(open_socket(server, token, n, thread) for n in range(SOCKETS)))
            await asyncio.sleep(PING)
        finally:
            reading.set()
            for one in readers:
                one.join()
        # Four intervals: every socket answers three or four pings. Before the interval was set on the
        # socket's event loop, some sockets' first pong was lost to a race and they were closed at the next ping.
        await asyncio.sleep(4 * PING)
        closed = [ws.close_code for ws in sockets if ws.close_code is not None]
        assert closed == [], f"{len(closed)} healthy sockets closed by the server: codes {sorted(set(closed))}"
        await asyncio.to_thread(post, server, token, thread, "still there?")

        async def delivered(ws):
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if frame["type"] == "message.created":
                    return frame["data"]["body"]

        assert await asyncio.gather(*(delivered(ws) for ws in sockets)) == ["still there?"] * len(sockets)
        for ws in sockets:
            await ws.close()

    try:
        asyncio.run(run())
    finally:
        os.sched_setaffinity(0, set(cpus))


def upgrade_by_hand(server, token):
    """A client that upgrades and then never reads a frame nor answers a ping."""
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    raw.sendall((f"GET /api/portal/realtime HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                 f"Authorization: Bearer {token}\r\nX-Forwarded-For: {address(61000)}\r\n\r\n").encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += raw.recv(4096)
    assert answer.startswith(b"HTTP/1.1 101"), answer
    return raw, answer.split(b"\r\n\r\n", 1)[1]


def frames(buffer):
    """Server frames (unmasked, payloads under 64 KiB) in `buffer`: (opcode, payload) pairs and the rest."""
    found = []
    while len(buffer) >= 2:
        length, start = buffer[1] & 0x7F, 2
        if length == 126:
            if len(buffer) < 4:
                break
            length, start = struct.unpack("!H", buffer[2:4])[0], 4
        if len(buffer) < start + length:
            break
        found.append((buffer[0] & 0x0F, buffer[start:start + length]))
        buffer = buffer[start + length:]
    return found, buffer


def test_a_client_that_never_answers_pings_is_closed_within_two_intervals(serve, workdir):
    server, token, thread = portal(serve, workdir, REALTIME_PING_SECONDS=PING)
    raw, pending = upgrade_by_hand(server, token)
    opened = time.monotonic()
    pings, close = 0, None
    while close is None:
        data = raw.recv(4096)
        if not data:
            break
        found, pending = frames(pending + data)
        for opcode, payload in found:
            pings += opcode == 0x9
            if opcode == 0x8:
                close = time.monotonic()
    elapsed = (close or time.monotonic()) - opened
    assert pings >= 1
    # Ping at the upgrade, unanswered at the next one: closed after one interval, within two.
    assert PING * 0.9 <= elapsed <= 2 * PING, elapsed
    raw.close()


def test_a_revoked_session_closes_its_socket_at_once(serve, workdir):
    server, owner, thread = portal(serve, workdir, REALTIME_PING_SECONDS=PING)
    token = sign_in(server, "owner@realtime.example")

    async def run():
        ws = await open_socket(server, token, 1, thread)
        keeper = await open_socket(server, owner, 2, thread)
        revoked = await asyncio.to_thread(requests.post, server.url + "/api/auth/logout",
                                          headers={"Authorization": "Bearer " + token, "X-Forwarded-For": address(60002)}, timeout=10)
        assert revoked.status_code in (200, 204), revoked.text
        started = time.monotonic()
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 15)
        except websockets.ConnectionClosed:
            pass
        assert time.monotonic() - started < 15
        assert ws.close_code == 4401
        # The other session's socket stays.
        assert keeper.close_code is None
        await keeper.close()

    asyncio.run(run())


def test_a_client_resumes_across_forced_drops_with_every_event_once_in_order(serve, workdir):
    server, token, thread = portal(serve, workdir)
    acknowledged = []
    total = 150

    def poster():
        for i in range(total):
            post(server, token, thread, f"m{i}")
            acknowledged.append(f"m{i}")
            time.sleep(0.01)

    async def run():
        bodies, last = [], None
        ws = await open_socket(server, token, 1, thread)
        sender = threading.Thread(target=poster)
        sender.start()
        drops = 0
        while len(bodies) < total:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if frame["type"] == "reset":
                raise AssertionError("told to reload")
            if "id" in frame:
                last = frame["id"]
            if frame["type"] == "message.created":
                bodies.append(frame["data"]["body"])
                # Twice, the connection is lost without a closing handshake while messages keep coming, and the
                # client comes back with the last event number it saw.
                if len(bodies) in (30, 90):
                    ws.transport.abort()
                    drops += 1
                    await asyncio.sleep(0.3)
                    ws = await open_socket(server, token, 1 + drops, thread, after=last)
        sender.join()
        await ws.close()
        return bodies

    bodies = asyncio.run(run())
    assert bodies == acknowledged == [f"m{i}" for i in range(total)]
