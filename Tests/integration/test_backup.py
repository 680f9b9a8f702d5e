"""`flux backup` while writes keep coming, `flux restore` into an empty installation: every row acknowledged
before the backup started is there, on SQLite and on PostgreSQL."""
import json
import os
import sqlite3
import subprocess
import threading
import time
import uuid

from helpers import METRICS_TOKEN, STRONG_SECRET, clean_env, run_flux


class Writer(threading.Thread):
    """Inserts audit rows one by one and remembers which were acknowledged (committed) and when."""

    def __init__(self, insert):
        super().__init__()
        self.insert = insert
        self.acknowledged = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            row = str(uuid.uuid4())
            self.insert(row)
            self.acknowledged.append((time.monotonic(), row))


def backup_under_load(insert, env, cwd):
    writer = Writer(insert)
    writer.start()
    time.sleep(1.0)
    started = time.monotonic()
    result = run_flux(["backup", "--output", str(cwd / "backup")], env, cwd)
    time.sleep(0.5)
    writer.stop.set()
    writer.join()
    assert result.returncode == 0, result.stdout + result.stderr
    before = [row for at, row in writer.acknowledged if at < started]
    after = [row for at, row in writer.acknowledged if at >= started]
    # Rows were acknowledged before the backup and writes went on during it.
    assert len(before) >= 3 and len(after) > 0
    manifest = json.loads((cwd / "backup" / "manifest.json").read_text())
    assert manifest["migrations"]
    return before


def test_sqlite_backup_during_writes_restores_every_acknowledged_row(tmp_path, serve):
    server = serve()
    database = tmp_path / "data" / "flux.sqlite"
    uploads = tmp_path / "data" / "uploads"
    uploads.mkdir()
    (uploads / "a1b2").write_bytes(b"uploaded bytes")
    portal_files = tmp_path / "data" / "files" / "tenant-a"
    portal_files.mkdir(parents=True)
    (portal_files / "c3d4").write_bytes(b"portal document")
    connection = sqlite3.connect(database, timeout=5, check_same_thread=False)

    def insert(row):
        connection.execute("INSERT INTO audit_events (id, occurred_at, action) VALUES (?, CURRENT_TIMESTAMP, 'test.backup')", (row,))
        connection.commit()

    before = backup_under_load(insert, clean_env(), tmp_path)
    server.stop()

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    restored = run_flux(["restore", str(tmp_path / "backup")], clean_env(), fresh)
    assert restored.returncode == 0, restored.stderr
    rows = {row for (row,) in sqlite3.connect(fresh / "data" / "flux.sqlite").execute("SELECT id FROM audit_events")}
    assert set(before) <= rows
    assert (fresh / "data" / "uploads" / "a1b2").read_bytes() == b"uploaded bytes"
    assert (fresh / "data" / "files" / "tenant-a" / "c3d4").read_bytes() == b"portal document"
    # A restored installation serves, and a second restore over it is refused.
    assert run_flux(["doctor"], clean_env(), fresh).returncode == 0
    again = run_flux(["restore", str(tmp_path / "backup")], clean_env(), fresh)
    assert again.returncode != 0 and "empty DATA_DIR" in again.stderr


def test_postgres_backup_during_writes_restores_every_acknowledged_row(tmp_path, postgres_database, serve):
    env = clean_env(FLUX_ENV="production", SESSION_SECRET=STRONG_SECRET, DATABASE_URL=postgres_database["url"],
                    METRICS_TOKEN=METRICS_TOKEN, PATH=os.environ["PATH"] + ":" + postgres_database["FLUX_PG_BIN"])
    server = serve(env=env)
    psql = [os.path.join(postgres_database["FLUX_PG_BIN"], "psql"), "-q", "-v", "ON_ERROR_STOP=1"]

    def insert(row):
        subprocess.run([*psql, postgres_database["url"], "-c",
                        f"INSERT INTO audit_events (id, occurred_at, action) VALUES ('{row}', now(), 'test.backup')"],
                       check=True, capture_output=True)

    before = backup_under_load(insert, env, tmp_path)
    server.stop()

    target = postgres_database["url"].rsplit("/", 1)[0] + "/" + postgres_database["url"].rsplit("/", 1)[1] + "_restored"
    subprocess.run([*psql, postgres_database["FLUX_TEST_DATABASE_URL"], "-c",
                    f"CREATE DATABASE {target.rsplit('/', 1)[1]}"], check=True, capture_output=True)
    try:
        restore_env = dict(env, DATABASE_URL=target)
        fresh = tmp_path / "fresh"
        fresh.mkdir()
        restored = run_flux(["restore", str(tmp_path / "backup")], restore_env, fresh)
        assert restored.returncode == 0, restored.stderr
        rows = subprocess.run([*psql, target, "-At", "-c", "SELECT id FROM audit_events"], check=True,
                              capture_output=True, text=True).stdout.split()
        assert set(before) <= set(rows)
        assert run_flux(["doctor"], restore_env, fresh).returncode == 0
        again = run_flux(["restore", str(tmp_path / "backup")], restore_env, fresh)
        assert again.returncode != 0
    finally:
        subprocess.run([*psql, postgres_database["FLUX_TEST_DATABASE_URL"], "-c",
                        f"DROP DATABASE IF EXISTS {target.rsplit('/', 1)[1]} WITH (FORCE)"], capture_output=True)
