"""Crash safety: `kill -9` in the middle of a stream of consultation requests, then a restart: every ticket
that was answered 201 is there, on SQLite (WAL) and on PostgreSQL."""
import os
import signal
import sqlite3
import subprocess
import threading
import uuid

import requests

from helpers import STRONG_SECRET, FluxServer, clean_env, wait_until


def consultation(index):
    return {"name": f"Crash Test {index}", "company": "Durability Ltd", "email": f"crash{index}@example.com",
            "preferredContact": "email", "message": "Are my tickets safe?"}


def stream_until_killed(server):
    """Posts consultations from four threads (each request from its own address, through the trusted proxy,
    so the per-address limit never answers) until the process is killed; returns the acknowledged ids."""
    acknowledged, lock, stop = [], threading.Lock(), threading.Event()

    def worker(offset):
        session = requests.Session()
        try:
            token = session.get(server.url + "/api/csrf", timeout=5).json()["token"]
        except requests.RequestException:
            return
        index = offset
        while not stop.is_set():
            index += 4
            headers = {"X-CSRF-Token": token, "X-Forwarded-For": f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}"}
            try:
                response = session.post(server.url + "/api/consultation", json=consultation(index), headers=headers, timeout=5)
            except requests.RequestException:
                return
            if response.status_code == 201:
                with lock:
                    acknowledged.append(response.json()["ticketId"].lower())

    threads = [threading.Thread(target=worker, args=(offset,)) for offset in range(4)]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(acknowledged) >= 150, 120, 0.01)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=10)
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    return acknowledged


def test_sqlite_keeps_every_acknowledged_ticket_after_kill_9(workdir):
    server = FluxServer(workdir, clean_env(TRUSTED_PROXIES="127.0.0.1")).start()
    acknowledged = stream_until_killed(server)
    assert len(acknowledged) >= 150
    restarted = FluxServer(workdir, clean_env(TRUSTED_PROXIES="127.0.0.1")).start()
    try:
        with sqlite3.connect(workdir / "data" / "flux.sqlite") as db:
            stored = {str(uuid.UUID(bytes=bytes(row[0]))) if isinstance(row[0], (bytes, memoryview)) else str(row[0]).lower()
                      for row in db.execute("SELECT id FROM operations_signals")}
        assert set(acknowledged) <= stored, f"{len(set(acknowledged) - stored)} acknowledged tickets lost"
        assert requests.get(restarted.url + "/api/health", timeout=5).status_code == 200
    finally:
        restarted.stop()


def test_postgres_keeps_every_acknowledged_ticket_after_kill_9(workdir, postgres_database):
    env = clean_env(FLUX_ENV="production", SESSION_SECRET=STRONG_SECRET, DATABASE_URL=postgres_database["url"],
                    TRUSTED_PROXIES="127.0.0.1")
    server = FluxServer(workdir, env).start()
    acknowledged = stream_until_killed(server)
    assert len(acknowledged) >= 150
    restarted = FluxServer(workdir, env).start()
    try:
        psql = [os.path.join(postgres_database["FLUX_PG_BIN"], "psql"), postgres_database["url"], "-At", "-c",
                "SELECT id FROM operations_signals"]
        stored = set(subprocess.run(psql, check=True, capture_output=True, text=True).stdout.split())
        assert set(acknowledged) <= stored, f"{len(set(acknowledged) - stored)} acknowledged tickets lost"
    finally:
        restarted.stop()
