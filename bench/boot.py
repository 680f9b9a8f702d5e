"""Boot-to-healthy time and idle RSS of a `flux` binary on SQLite.

usage: python3 bench/boot.py BINARY [RUNS]

Each run starts `flux serve` with no configuration in a fresh directory (the first boot: development secret
generated, migrations applied) and then once more in the same directory (a warm boot), timing from process
start to the first 200 from GET /api/health, then reads VmRSS after two idle seconds.
"""
import http.client
import os
import pathlib
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(port):
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        connection.request("GET", "/api/health")
        return connection.getresponse().status == 200
    except OSError:
        return False


def rss_kib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def boot_once(binary, directory):
    port = free_port()
    env = {"PATH": os.environ["PATH"], "PORT": str(port)}
    started = time.perf_counter()
    process = subprocess.Popen([binary, "serve"], cwd=directory, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not healthy(port):
            if process.poll() is not None:
                raise RuntimeError(f"flux exited with {process.returncode}")
            if time.perf_counter() - started > 30:
                raise RuntimeError("not healthy after 30 s")
            time.sleep(0.002)
        boot = time.perf_counter() - started
        time.sleep(2)
        return boot, rss_kib(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)


def main():
    binary = os.path.abspath(sys.argv[1])
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    first, warm, rss = [], [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as directory:
            boot, kib = boot_once(binary, directory)
            first.append(boot)
            rss.append(kib)
            boot, kib = boot_once(binary, directory)
            warm.append(boot)
            rss.append(kib)

    def ms(values):
        return f"median {statistics.median(values) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms"

    print(f"runs: {runs} (each a first boot in a fresh directory, then a warm boot)")
    print(f"boot to healthy, first boot: {ms(first)}")
    print(f"boot to healthy, warm boot:  {ms(warm)}")
    print(f"idle RSS after 2 s: median {statistics.median(rss) / 1024:.1f} MiB, max {max(rss) / 1024:.1f} MiB")
    print("targets: boot to healthy <= 1000 ms, idle RSS <= 50 MiB")


if __name__ == "__main__":
    main()
