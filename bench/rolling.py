"""Flux behind nginx, measured: requests/s through nginx (HTTPS, three replicas) as a ratio of one replica
served directly, and failed requests during a rolling restart of the three replicas under wrk load.

usage: python3 bench/rolling.py FLUX_BINARY   (bench/rolling.sh builds the release binary and calls this)
Needs nginx, wrk and PostgreSQL (started here through scripts/pg-throwaway).
"""
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Tests" / "integration"))
os.environ.setdefault("FLUX_BIN", os.path.abspath(sys.argv[1]))

from conftest import STRONG_SECRET, FluxServer, clean_env  # noqa: E402
from test_deploy import nginx_site  # noqa: E402


def wrk(url, seconds):
    output = subprocess.run(["wrk", "-t2", "-c32", f"-d{seconds}s", url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    total = int(re.search(r"(\d+) requests in", output).group(1))
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", output)) else 0
    socket = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    return rate, total, non2xx + socket


def main():
    with tempfile.TemporaryDirectory() as work:
        work = pathlib.Path(work)
        # Beside, not inside, the private work directory: the cluster runs as the postgres user.
        cluster = pathlib.Path(tempfile.mkdtemp(prefix="flux-pg."))
        settings = dict(line.split("=", 1) for line in subprocess.run(
            [str(ROOT / "scripts" / "pg-throwaway"), "start", str(cluster)], capture_output=True, text=True,
            check=True).stdout.split())
        replicas, nginx_command = [], None
        try:
            env = clean_env(FLUX_ENV="production", SESSION_SECRET=STRONG_SECRET, LOG_LEVEL="error",
                            DATABASE_URL=settings["FLUX_TEST_DATABASE_URL"], TRUSTED_PROXIES="127.0.0.1")
            for index in range(3):
                (work / f"replica{index}").mkdir()
                replicas.append(FluxServer(work / f"replica{index}", env).start())
            nginx_dir = work / "nginx"
            nginx_dir.mkdir()
            _, https_port = nginx_site(nginx_dir, [replica.port for replica in replicas], workers="auto")
            nginx_command = ["nginx", "-p", str(nginx_dir), "-c", str(nginx_dir / "nginx.conf")]
            subprocess.run(nginx_command, check=True)
            time.sleep(0.5)

            direct, _, _ = wrk(replicas[0].url + "/api/health/live", 10)
            proxied, _, _ = wrk(f"https://127.0.0.1:{https_port}/api/health/live", 10)
            print(f"direct (one replica, HTTP): {direct:.0f} requests/s")
            print(f"through nginx (HTTPS, three replicas): {proxied:.0f} requests/s")
            print(f"ratio: {proxied / direct:.2f} (goal >= 0.8)")

            load = subprocess.Popen(["wrk", "-t2", "-c32", "-d20s", f"https://127.0.0.1:{https_port}/api/health"],
                                    stdout=subprocess.PIPE, text=True)
            time.sleep(2)
            for replica in replicas:
                replica.stop()
                replica.start()
                time.sleep(2)
            output, _ = load.communicate()
            total = int(re.search(r"(\d+) requests in", output).group(1))
            non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", output)) else 0
            socket = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
            print(f"rolling restart of 3 replicas under load: {total} requests, {non2xx + socket} failed (goal 0)")
        finally:
            if nginx_command:
                subprocess.run([*nginx_command, "-s", "stop"], capture_output=True)
            for replica in replicas:
                replica.stop()
            subprocess.run([str(ROOT / "scripts" / "pg-throwaway"), "stop", str(cluster)], capture_output=True)


if __name__ == "__main__":
    main()
