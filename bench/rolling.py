"""Flux behind nginx, measured: requests/s through nginx as a ratio of direct, and failed requests during a
rolling restart of the three replicas under wrk load.

The ratio is read twice, alternating, in two shapes: like for like (one replica direct over HTTP against the
same replica through nginx over HTTPS: what the proxy costs) and nginx in front of all three replicas against
that one direct replica (what this 2-core machine does with three replicas, nginx and wrk on it). For each
run the CPU time of flux, nginx and wrk is read from /proc and printed per request, so a ratio can be
explained.

usage: python3 bench/rolling.py FLUX_BINARY   (bench/rolling.sh builds the release binary and calls this)
Needs nginx, wrk and PostgreSQL (started here through scripts/pg-throwaway).
"""
import os
import pathlib
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Tests" / "integration"))
os.environ.setdefault("FLUX_BIN", os.path.abspath(sys.argv[1]))

from conftest import STRONG_SECRET, FluxServer, clean_env, nginx_command, nginx_site  # noqa: E402


def wrk_figures(output):
    """wrk's requests/s, requests sent, and failed requests (non-2xx answers and socket errors)."""
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    total = int(re.search(r"(\d+) requests in", output).group(1))
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", output)) else 0
    socket = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    return rate, total, non2xx + socket


def wrk(url, seconds):
    return wrk_figures(subprocess.run(["wrk", "-t2", "-c32", f"-d{seconds}s", url], capture_output=True, text=True,
                                      check=True).stdout)


def stat_fields(pid):
    """The fields of /proc/PID/stat after the command name (state, parent, ..., utime at 11, stime at 12)."""
    return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pids):
    """User and system CPU time of these processes and all their threads so far."""
    total = 0
    for pid in pids:
        try:
            fields = stat_fields(pid)
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def nginx_pids(directory):
    """The master and workers of the nginx started with this prefix directory."""
    master = int((directory / "nginx.pid").read_text())
    workers = []
    for entry in pathlib.Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and stat_fields(entry.name)[1] == str(master):
                workers.append(int(entry.name))
        except (FileNotFoundError, IndexError):
            continue
    return [master, *workers]


def measured(url, seconds, flux, nginx):
    """wrk's requests/s on url, and the CPU microseconds per request spent by flux, nginx and wrk."""
    before = cpu_seconds(flux), cpu_seconds(nginx), resource.getrusage(resource.RUSAGE_CHILDREN)
    rate, total, failed = wrk(url, seconds)
    after = cpu_seconds(flux), cpu_seconds(nginx), resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (after[2].ru_utime + after[2].ru_stime) - (before[2].ru_utime + before[2].ru_stime)
    per_request = lambda spent: spent / max(total, 1) * 1e6
    return rate, failed, per_request(after[0] - before[0]), per_request(after[1] - before[1]), per_request(wrk_cpu)


def main():
    with tempfile.TemporaryDirectory() as work:
        work = pathlib.Path(work)
        # Beside, not inside, the private work directory: the cluster runs as the postgres user.
        cluster = pathlib.Path(tempfile.mkdtemp(prefix="flux-pg."))
        settings = dict(line.split("=", 1) for line in subprocess.run(
            [str(ROOT / "scripts" / "pg-throwaway"), "start", str(cluster)], capture_output=True, text=True,
            check=True).stdout.split())
        # nginx prefix directories whose nginx runs, stopped on any exit.
        replicas, running = [], []
        try:
            env = clean_env(FLUX_ENV="production", SESSION_SECRET=STRONG_SECRET, LOG_LEVEL="error",
                            DATABASE_URL=settings["FLUX_TEST_DATABASE_URL"], TRUSTED_PROXIES="127.0.0.1")
            for index in range(3):
                (work / f"replica{index}").mkdir()
                replicas.append(FluxServer(work / f"replica{index}", env).start())
            nginx_dir = work / "nginx"
            nginx_dir.mkdir()
            _, https_port = nginx_site(nginx_dir, [replica.port for replica in replicas], workers="auto")
            single_dir = work / "nginx-one-replica"
            single_dir.mkdir()
            _, single_port = nginx_site(single_dir, [replicas[0].port], workers="auto")
            for directory in (nginx_dir, single_dir):
                subprocess.run(nginx_command(directory), check=True)
                running.append(directory)
            time.sleep(0.5)

            flux = [replica.process.pid for replica in replicas]
            shapes = [("direct, one replica (HTTP)", replicas[0].url, []),
                      ("nginx (HTTPS) -> the same replica", f"https://127.0.0.1:{single_port}", nginx_pids(single_dir)),
                      ("nginx (HTTPS) -> three replicas", f"https://127.0.0.1:{https_port}", nginx_pids(nginx_dir))]
            rates = {name: [] for name, _, _ in shapes}
            for _ in range(2):
                for name, base, nginx in shapes:
                    rate, failed, flux_us, nginx_us, wrk_us = measured(base + "/api/health/live", 8, flux, nginx)
                    rates[name].append(rate)
                    print(f"{name}: {rate:.0f} requests/s ({failed} failed); CPU per request: flux {flux_us:.0f} us, "
                          f"nginx {nginx_us:.0f} us, wrk {wrk_us:.0f} us", flush=True)
            subprocess.run([*nginx_command(single_dir), "-s", "stop"], capture_output=True)
            running.remove(single_dir)
            direct = statistics.median(rates[shapes[0][0]])
            for name, _, _ in shapes[1:]:
                print(f"ratio, {name}: {statistics.median(rates[name]) / direct:.2f} of direct (goal >= 0.8)")

            load = subprocess.Popen(["wrk", "-t2", "-c32", "-d20s", f"https://127.0.0.1:{https_port}/api/health"],
                                    stdout=subprocess.PIPE, text=True)
            time.sleep(2)
            for replica in replicas:
                replica.stop()
                replica.start()
                time.sleep(2)
            output, _ = load.communicate()
            _, total, failed = wrk_figures(output)
            print(f"rolling restart of 3 replicas under load: {total} requests, {failed} failed (goal 0)")
        finally:
            for directory in running:
                subprocess.run([*nginx_command(directory), "-s", "stop"], capture_output=True)
            for replica in replicas:
                replica.stop()
            subprocess.run([str(ROOT / "scripts" / "pg-throwaway"), "stop", str(cluster)], capture_output=True)


if __name__ == "__main__":
    main()
