"""1,000 workers long-polling one Flux (issue 29). Usage: python3 bench/workers.py FLUX_BIN [ROUNDS] [TENANTS] [PER_TENANT]

Starts `flux serve` (SQLite, a fresh DATA_DIR, TRUSTED_PROXIES=127.0.0.1 so each worker counts under its own
forwarded address) pinned to core 0; signs up TENANTS client organizations (default 100) through the API, each
with one worker key, and runs PER_TENANT workers for each (default 10: 1,000 in all) in one asyncio client pinned
to core 1, each on its own keep-alive connection, long-polling GET /api/portal/worker/desired in a loop as the
reference worker does. Prints:
  - idle: the server's CPU over 60 s while every worker waits (each poll answers after 25 s and is asked again),
    as a share of one core, and its RSS growth over the idle server before the workers connected;
  - per round: staff issue a restart to every organization (one request each, back to back); for every worker,
    the time from its organization's command being sent to its poll answering with the new state: p50/p99/max.
Targets: change reaches all workers p99 <= 1 s; idle CPU <= 5 % of a core; RSS <= 64 MB above idle.
"""
import asyncio
import json
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import requests

PASSWORD = "bench passphrase for workers"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_stat(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Poller:
    """One worker: a keep-alive connection asking for the desired state after the version it has."""

    def __init__(self, port, key, name, address):
        self.port, self.key, self.name, self.address = port, key, name, address
        self.version = None
        self.changed_at = []  # (monotonic time, version) of each answer with a newer version
        self.reader = self.writer = None

    async def ask(self):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        query = f"?name={self.name}" + (f"&after={self.version}" if self.version is not None else "")
        self.writer.write((f"GET /api/portal/worker/desired{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           f"Authorization: Bearer {self.key}\r\nX-Forwarded-For: {self.address}\r\n\r\n").encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
        body = json.loads(await self.reader.readexactly(length))
        if status != 200:
            raise RuntimeError(f"{status} {body}")
        return body

    async def run(self, ready):
        body = await self.ask()
        self.version = body["version"]
        ready.set_result(None) if not ready.done() else None
        while True:
            body = await self.ask()
            if body["version"] > self.version:
                self.changed_at.append((time.monotonic(), body["version"]))
            self.version = body["version"]


async def client(port, keys, per_tenant, url, staff_token, rounds, pid):
    pollers = []
    tasks = []
    for t, key in enumerate(keys):
        for w in range(per_tenant):
            n = len(pollers)
            pollers.append(Poller(port, key, f"w{w}", f"10.{n // 65536}.{n // 256 % 256}.{n % 256}"))
    readies = [asyncio.get_running_loop().create_future() for _ in pollers]
    for poller, ready in zip(pollers, readies):
        tasks.append(asyncio.create_task(poller.run(ready)))
    await asyncio.wait_for(asyncio.gather(*readies), 120)
    print(f"{len(pollers)} workers polling", flush=True)
    await asyncio.sleep(5)

    cpu0, t0 = proc_stat(pid), time.monotonic()
    await asyncio.sleep(60)
    idle_cpu = (proc_stat(pid) - cpu0) / (time.monotonic() - t0)
    idle_rss = rss_mib(pid)

    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + staff_token
    results = []
    loop = asyncio.get_running_loop()
    for round_ in range(rounds):
        for poller in pollers:
            poller.changed_at.clear()
        sent = {}

        def issue():
            for tenant, _ in enumerate(keys):
                sent[tenant] = time.monotonic()
                answer = session.post(f"{url}/api/hq/tenants/{tenant_ids[tenant]}/worker/commands", json={"kind": "restart", "reason": "bench"})
                assert answer.status_code == 202, answer.text

        await loop.run_in_executor(None, issue)
        await asyncio.sleep(5)
        delays = []
        for index, poller in enumerate(pollers):
            tenant = index // per_tenant
            assert poller.changed_at, f"worker {index} never saw round {round_ + 1}'s change"
            delays.append((poller.changed_at[0][0] - sent[tenant]) * 1000)
        delays.sort()
        results.append(delays)
        print(f"round {round_ + 1}: {len(delays)} workers reached, p50 {delays[len(delays) // 2]:.1f} ms, "
              f"p99 {delays[int(len(delays) * 0.99) - 1]:.1f} ms, max {delays[-1]:.1f} ms", flush=True)
        await asyncio.sleep(2)
    for task in tasks:
        task.cancel()
    return idle_cpu, idle_rss, results


def main():
    global tenant_ids
    binary = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    tenants = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    per_tenant = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    work = pathlib.Path(tempfile.mkdtemp())
    port = free_port()
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "DATA_DIR": str(work / "data"), "PORT": str(port),
           "TRUSTED_PROXIES": "127.0.0.1", "LOG_LEVEL": "error"}
    url = f"http://127.0.0.1:{port}"
    subprocess.run([binary, "create-admin", "--email", "eng@bench.example", "--role", "engineer"], env=env, input=PASSWORD + "\n",
                   capture_output=True, text=True, check=True)
    server = subprocess.Popen(["taskset", "-c", "0", binary, "serve"], env=env, stdout=open(work / "flux.log", "w"), stderr=subprocess.STDOUT)
    try:
        while True:
            try:
                if requests.get(url + "/api/health/live", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        os.sched_setaffinity(0, {1})
        time.sleep(2)
        base_rss = rss_mib(server.pid)
        session = requests.Session()
        session.headers["X-CSRF-Token"] = session.get(url + "/api/csrf").json()["token"]
        token = session.post(url + "/api/auth/login", json={"email": "eng@bench.example", "password": PASSWORD}).json()["accessToken"]
        keys, tenant_ids = [], []
        for t in range(tenants):
            address = {"X-Forwarded-For": f"10.200.{t // 256}.{t % 256}"}
            client_session = requests.Session()
            client_session.headers["X-CSRF-Token"] = client_session.get(url + "/api/csrf", headers=address).json()["token"]
            registered = client_session.post(url + "/api/auth/register", headers=address, json={
                "email": f"owner{t}@bench.example", "password": PASSWORD, "name": f"Owner {t}", "company": f"Bench {t}"})
            assert registered.status_code == 202, registered.text
            signed_in = client_session.post(url + "/api/auth/login", headers=address, json={"email": f"owner{t}@bench.example", "password": PASSWORD})
            me = requests.get(url + "/api/portal/me", headers={**address, "Authorization": "Bearer " + signed_in.json()["accessToken"]})
            tenant_ids.append(me.json()["tenantId"])
            key = requests.post(f"{url}/api/hq/tenants/{tenant_ids[-1]}/api-keys", json={"name": "bench", "scopes": ["worker"]},
                                headers={"Authorization": "Bearer " + token})
            assert key.status_code == 201, key.text
            keys.append(key.json()["key"])
        print(f"{tenants} organizations signed up; idle RSS {base_rss:.1f} MiB", flush=True)
        idle_cpu, idle_rss, results = asyncio.run(client(port, keys, per_tenant, url, token, rounds, server.pid))
        p99s = [r[int(len(r) * 0.99) - 1] for r in results]
        print(f"idle, {tenants * per_tenant} workers waiting: server CPU {idle_cpu * 100:.2f} % of a core; "
              f"RSS {idle_rss:.1f} MiB, {idle_rss - base_rss:.1f} MiB above the idle server (targets: <= 5 %, <= 64 MB)")
        print(f"change to all workers, p99 per round: {', '.join(f'{p:.0f} ms' for p in p99s)}; "
              f"median p50 {statistics.median(r[len(r) // 2] for r in results):.0f} ms (target p99 <= 1000 ms)")
    finally:
        server.terminate()
        server.wait(15)


if __name__ == "__main__":
    main()
