"""Object storage throughput (issue 33): a 100 MB file up and down through Flux against the same bytes PUT and
GET straight to the S3 gateway Flux stores them in.

usage: python3 bench/storage.py BINARY [ROUNDS] [SIZE_MB]

Starts a throwaway SeaweedFS (scripts/seaweedfs-throwaway) and one `flux serve` (SQLite, FILES_S3_* set, its
own DATA_DIR), signs a client organization's admin in through the API, then for ROUNDS (3) rounds times:
  - Flux up: POST /api/tenants/<tenant>/files, one multipart `file` part of SIZE_MB (100) MB, to the 201;
    Flux streams it to the bucket as a multipart upload of 8 MiB parts;
  - Flux down: GET /api/tenants/<tenant>/files/<id>/content to the last byte;
  - direct up: one PUT of the same bytes to the gateway (Signature Version 4 by botocore, UNSIGNED-PAYLOAD, so
    the client hashes nothing: the strictest baseline);
  - direct down: GET of that object to the last byte.
The order alternates (Flux first in odd rounds, direct first in even ones). Both sides use one `requests`
session, send from the same bytes in memory and read in 1 MiB pieces without keeping them; sizes are checked
in every round and SHA-256 once, after the timed rounds. MB = 10^6 bytes.
Prints each round, the medians in MB/s and of the CPU time Flux's process used per transfer, Flux/direct each way (target >= 80 %) and Flux's peak RSS growth
(VmHWM after all rounds less VmHWM once signed in, before the first transfer; target <= 32 MB).
"""
import hashlib
import os
import pathlib
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

ROOT = pathlib.Path(__file__).resolve().parents[1]
PIECE = 1024 * 1024
PASSWORD = "storage bench passphrase 2026"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """User + system CPU time the process has used so far."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def kib(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field}")


class Direct:
    """PUT and GET of one object straight to the gateway, signed by botocore."""

    def __init__(self, store, session):
        self.endpoint, self.bucket = store["FLUX_TEST_S3_ENDPOINT"], store["FLUX_TEST_S3_BUCKET"]
        self.credentials = Credentials(store["FLUX_TEST_S3_ACCESS_KEY_ID"], store["FLUX_TEST_S3_SECRET_ACCESS_KEY"])
        self.region = store.get("FLUX_TEST_S3_REGION", "us-east-1")
        self.session = session

    def _signed(self, method, key, body=None):
        request = AWSRequest(method=method, url=f"{self.endpoint}/{self.bucket}/{key}", data=body)
        request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
        S3SigV4Auth(self.credentials, "s3", self.region).add_auth(request)
        return dict(request.headers.items())

    def put(self, key, body):
        answer = self.session.put(f"{self.endpoint}/{self.bucket}/{key}", data=body, headers=self._signed("PUT", key, body),
                                  timeout=600)
        assert answer.status_code == 200, answer.text[:300]

    def get(self, key, digest=None):
        return read_all(self.session.get(f"{self.endpoint}/{self.bucket}/{key}", headers=self._signed("GET", key),
                                         stream=True, timeout=600), digest)


def read_all(answer, digest=None):
    """Reads a streamed answer to its end in 1 MiB pieces; returns its size."""
    with answer:
        assert answer.status_code == 200, answer.text[:300]
        size = 0
        for chunk in answer.iter_content(PIECE):
            size += len(chunk)
            if digest is not None:
                digest.update(chunk)
    return size


class Flux:
    def __init__(self, binary, store, directory, size):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
        env.update(PORT=str(self.port), DATA_DIR=str(directory / "data"), LOG_LEVEL="error",
                   FILES_S3_BUCKET=store["FLUX_TEST_S3_BUCKET"], FILES_S3_ENDPOINT=store["FLUX_TEST_S3_ENDPOINT"],
                   FILES_S3_ACCESS_KEY_ID=store["FLUX_TEST_S3_ACCESS_KEY_ID"],
                   FILES_S3_SECRET_ACCESS_KEY=store["FLUX_TEST_S3_SECRET_ACCESS_KEY"],
                   PORTAL_FILE_MAX_BYTES=str(max(size + PIECE, 100 * PIECE)), TENANT_QUOTA_BYTES=str(64 * 1024 ** 3))
        self.log = open(directory / "flux.log", "w")
        self.process = subprocess.Popen([binary, "serve"], env=env, cwd=directory, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, f"flux exited with {self.process.returncode}"
            try:
                if requests.get(self.url + "/api/health/live", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "flux did not come up"
            time.sleep(0.05)
        health = requests.get(self.url + "/api/health", timeout=10).json()
        assert health["storage"] == "up", health

    def sign_in(self, session):
        visitor = requests.Session()
        visitor.headers["X-CSRF-Token"] = visitor.get(self.url + "/api/csrf", timeout=10).json()["token"]
        email = f"bench-{uuid.uuid4().hex[:8]}@storage.example"
        registered = visitor.post(self.url + "/api/auth/register", timeout=30,
                                  json={"email": email, "password": PASSWORD, "name": "Bench", "company": "Bench Ltd"})
        assert registered.status_code == 202, registered.text
        signed_in = visitor.post(self.url + "/api/auth/login", json={"email": email, "password": PASSWORD}, timeout=30)
        assert signed_in.status_code == 200, signed_in.text
        session.headers["Authorization"] = "Bearer " + signed_in.json()["accessToken"]
        self.session = session
        self.tenant = session.get(self.url + "/api/portal/me", timeout=10).json()["tenantId"]

    def put(self, body, boundary):
        answer = self.session.post(f"{self.url}/api/tenants/{self.tenant}/files", data=body, timeout=600,
                                   headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert answer.status_code == 201, answer.text[:300]
        return answer.json()["id"]

    def get(self, file_id, digest=None):
        return read_all(self.session.get(f"{self.url}/api/tenants/{self.tenant}/files/{file_id}/content", stream=True,
                                         timeout=600), digest)

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)
        self.log.close()


def timed(action):
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def main():
    binary = os.path.abspath(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    size = int(sys.argv[3]) * 1000 * 1000 if len(sys.argv) > 3 else 100 * 1000 * 1000
    payload = os.urandom(size)
    expected = hashlib.sha256(payload).hexdigest()
    boundary = "b" + uuid.uuid4().hex
    multipart = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bench.bin\"\r\n"
                 f"Content-Type: application/octet-stream\r\n\r\n").encode() + payload + f"\r\n--{boundary}--\r\n".encode()

    directory = pathlib.Path(tempfile.mkdtemp(prefix="flux-storage-bench-"))
    store_dir = directory / "seaweedfs"
    started = subprocess.run([str(ROOT / "scripts" / "seaweedfs-throwaway"), "start", str(store_dir)],
                             capture_output=True, text=True, timeout=180)
    assert started.returncode == 0, started.stderr
    store = dict(line.split("=", 1) for line in started.stdout.split())
    flux = None
    try:
        flux = Flux(binary, store, directory, size)
        flux.sign_in(requests.Session())
        direct = Direct(store, requests.Session())
        before = kib(flux.process.pid, "VmHWM")
        figures = {"flux up": [], "flux down": [], "direct up": [], "direct down": []}
        flux_cpu = {"up": [], "down": []}
        # VmHWM only rises: what each kind of transfer added to the peak, summed over the rounds.
        hwm_added = {"up": 0, "down": 0}

        def measured(way, action):
            pid = flux.process.pid
            cpu, hwm = cpu_seconds(pid), kib(pid, "VmHWM")
            seconds, result = timed(action)
            flux_cpu[way].append(cpu_seconds(pid) - cpu)
            hwm_added[way] += kib(pid, "VmHWM") - hwm
            return seconds, result
        last = {}

        def flux_round():
            seconds, file_id = measured("up", lambda: flux.put(multipart, boundary))
            figures["flux up"].append(seconds)
            seconds, got = measured("down", lambda: flux.get(file_id))
            assert got == size, (got, size)
            figures["flux down"].append(seconds)
            last["flux"] = file_id

        def direct_round(number):
            key = f"bench/direct-{number}"
            seconds, _ = timed(lambda: direct.put(key, payload))
            figures["direct up"].append(seconds)
            seconds, got = timed(lambda: direct.get(key))
            assert got == size, (got, size)
            figures["direct down"].append(seconds)
            last["direct"] = key

        for number in range(1, rounds + 1):
            order = [flux_round, lambda: direct_round(number)]
            if number % 2 == 0:
                order.reverse()
            for run in order:
                run()
            print(f"round {number} ({'flux' if number % 2 else 'direct'} first): "
                  + ", ".join(f"{name} {size / 1e6 / figures[name][-1]:.0f} MB/s" for name in figures), flush=True)
        grown = kib(flux.process.pid, "VmHWM") - before

        # Correctness, outside the timings: the last file each way reads back identical.
        for name, read in (("flux", lambda d: flux.get(last["flux"], d)), ("direct", lambda d: direct.get(last["direct"], d))):
            digest = hashlib.sha256()
            read(digest)
            assert digest.hexdigest() == expected, f"{name} download differs"

        medians = {name: size / 1e6 / statistics.median(values) for name, values in figures.items()}
        print(f"\n{size / 1e6:.0f} MB, {rounds} rounds, medians:")
        for way in ("up", "down"):
            ratio = medians[f"flux {way}"] / medians[f"direct {way}"]
            print(f"  {way:>4}: Flux {medians[f'flux {way}']:.0f} MB/s, direct {medians[f'direct {way}']:.0f} MB/s, "
                  f"Flux/direct {ratio:.0%} (target >= 80 %: {'met' if ratio >= 0.8 else 'NOT met'}); "
                  f"Flux's own CPU {statistics.median(flux_cpu[way]):.2f} s")
        print(f"  Flux peak RSS growth (VmHWM): {grown / 1024:.1f} MiB ({before / 1024:.1f} -> {(before + grown) / 1024:.1f} MiB; "
              f"target <= 32 MB: {'met' if grown * 1024 <= 32e6 else 'NOT met'}); of it during uploads "
              f"{hwm_added['up'] / 1024:.1f} MiB, downloads {hwm_added['down'] / 1024:.1f} MiB")
        print("  SHA-256 of the last download each way: identical to what was sent")
    finally:
        if flux is not None:
            flux.stop()
        subprocess.run([str(ROOT / "scripts" / "seaweedfs-throwaway"), "stop", str(store_dir)], timeout=60)
        subprocess.run(["rm", "-rf", str(directory)])


if __name__ == "__main__":
    main()
