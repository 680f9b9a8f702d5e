"""Portal real time on one server, clients in PROCESSES processes, each socket from its own X-Forwarded-For
address. Prints one JSON object of figures (realtime.sh runs it three times and prints the medians):
  join storm: SOCKETS sockets connecting and subscribing to one conversation at once, as after a deploy; the
    server's CPU (from /proc/FLUX_PID/stat) and the bytes it wrote (/proc/FLUX_PID/io wchar) from the first
    connect until every socket is subscribed plus a second (the presence that follows the joins); again with
    twice as many sockets at the end;
  send-to-receive: MESSAGES messages posted over REST one every INTERVAL seconds, from just before each POST
    to each socket's receipt (p50/p95/p99 over all deliveries), and the server's own fan-out time (hub until
    every socket has written the event) from its /metrics histogram over those messages;
  burst: BURST messages posted by POSTERS posters as fast as they are answered: deliveries per second (from
    the first POST to the last receipt), POST latency p50/p99, and the server's CPU per delivery;
  closed by server: sockets the server closed during the run (healthy clients: must be 0).
Usage: realtime.py URL CLIENT_TOKEN ENGINEER_TOKEN THREAD_ID FLUX_PID"""
import asyncio
import json
import multiprocessing
import os
import re
import sys
import threading
import time
import urllib.request

import websockets

URL, CLIENT, ENGINEER, THREAD, FLUX_PID = sys.argv[1:6]
SOCKETS = int(os.environ.get("SOCKETS", "1000"))
PROCESSES = int(os.environ.get("PROCESSES", "4"))
MESSAGES = int(os.environ.get("MESSAGES", "100"))
INTERVAL = float(os.environ.get("INTERVAL", "0.1"))
BURST = int(os.environ.get("BURST", "300"))
POSTERS = int(os.environ.get("POSTERS", "4"))
TICK = os.sysconf("SC_CLK_TCK")


def server_cpu():
    fields = open(f"/proc/{FLUX_PID}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def server_written():
    return int(next(line for line in open(f"/proc/{FLUX_PID}/io") if line.startswith("wchar:")).split()[1])


def address(n):
    return f"10.9.{n // 256}.{n % 256}"


async def client_process(first, count, expected, ready, done, stop, results):
    received, closed = {}, []

    async def one(n):
        token = CLIENT if n % 2 else ENGINEER
        # The client sends no pings; websockets answers the server's by itself.
        async with websockets.connect(URL.replace("http", "ws", 1) + "/api/portal/realtime", max_queue=None, ping_interval=None,
                                      open_timeout=120, close_timeout=5,
                                      additional_headers={"Authorization": "Bearer " + token, "X-Forwarded-For": address(n)}) as ws:
            try:
                await ws.send(json.dumps({"type": "subscribe", "threadIds": [THREAD]}))
                while json.loads(await ws.recv())["type"] != "subscribed":
                    pass
                ready.put(1)
                got = 0
                while got < expected:
                    text = await ws.recv()
                    # Parse only what is measured.
                    if '"type":"message.created"' in text:
                        received.setdefault(json.loads(text)["data"]["body"], []).append(time.perf_counter())
                        got += 1
                done.put(1)
                while not stop.is_set() and ws.close_code is None:
                    await asyncio.sleep(0.2)
                if ws.close_code is not None:
                    closed.append(ws.close_code)
            except websockets.ConnectionClosed as error:
                closed.append(error.rcvd.code if error.rcvd else None)
                done.put(1)

    await asyncio.gather(*(one(n) for n in range(first, first + count)))
    results.put((received, closed))


def run_clients(*args):
    asyncio.run(client_process(*args))


def start_clients(sockets, expected, offset=0):
    ready, done, stop, results = multiprocessing.Queue(), multiprocessing.Queue(), multiprocessing.Event(), multiprocessing.Queue()
    share = sockets // PROCESSES
    processes = [multiprocessing.Process(target=run_clients, args=(offset + p * share, share, expected, ready, done, stop, results))
                 for p in range(PROCESSES)]
    for process in processes:
        process.start()
    return share * PROCESSES, processes, ready, done, stop, results


def join_storm(sockets, expected, offset=0):
    cpu, written = server_cpu(), server_written()
    started = time.perf_counter()
    clients = start_clients(sockets, expected, offset)
    total, _, ready, *_ = clients
    for _ in range(total):
        ready.get(timeout=300)
    subscribed = time.perf_counter() - started
    time.sleep(1)
    return clients, {"sockets": total, "subscribed_s": subscribed, "cpu_s": server_cpu() - cpu,
                     "written_mb": (server_written() - written) / 1e6}


def finish(clients):
    total, processes, _, _, stop, results = clients
    stop.set()
    received, closed = {}, []
    for _ in processes:
        got, lost = results.get(timeout=300)
        closed += lost
        for body, times in got.items():
            received.setdefault(body, []).extend(times)
    for process in processes:
        process.join()
    return received, closed


def post(body, n):
    request = urllib.request.Request(f"{URL}/api/portal/conversations/{THREAD}/messages", method="POST",
                                     data=json.dumps({"body": body}).encode(),
                                     headers={"Authorization": "Bearer " + CLIENT, "Content-Type": "application/json",
                                              "X-Forwarded-For": address(60000 + n)})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201, response.status


def fanout_buckets():
    text = urllib.request.urlopen(URL + "/metrics", timeout=10).read().decode()
    found = re.findall(r'flux_realtime_fanout_duration_seconds_bucket\{le="([^"]+)"\} ([0-9.e+]+)', text)
    return {float("inf") if le == "+Inf" else float(le): float(n) for le, n in found}


def bucket_percentiles(before, after):
    counts = sorted((le, after[le] - before.get(le, 0)) for le in after)
    total = counts[-1][1]
    return [next(le for le, n in counts if n >= q * total) * 1000 for q in (0.5, 0.99)]


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else float("nan")


def main():
    figures = {}
    clients, figures["join"] = join_storm(SOCKETS, MESSAGES + BURST)
    total, _, _, done, _, _ = clients

    sent = {}
    before = fanout_buckets()
    for i in range(MESSAGES):
        sent[f"bench {i}"] = time.perf_counter()
        post(f"bench {i}", i)
        time.sleep(INTERVAL)
    time.sleep(1)
    figures["server_fanout_ms"] = bucket_percentiles(before, fanout_buckets())

    posts = []
    def poster(p):
        for i in range(p, BURST, POSTERS):
            body = f"burst {i}"
            sent[body] = time.perf_counter()
            post(body, MESSAGES + i)
            posts.append((time.perf_counter() - sent[body]) * 1000)

    cpu = server_cpu()
    burst_started = time.perf_counter()
    threads = [threading.Thread(target=poster, args=(p,)) for p in range(POSTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for _ in range(total):
        done.get(timeout=300)
    burst_cpu = server_cpu() - cpu
    received, closed = finish(clients)

    deliveries = [(t - sent[body]) * 1000 for body, times in received.items() if body.startswith("bench ") for t in times]
    burst = [t for body, times in received.items() if body.startswith("burst ") for t in times]
    figures["closed_by_server"] = len(closed)
    figures["deliveries"] = sum(len(times) for times in received.values())
    figures["expected"] = total * (MESSAGES + BURST)
    figures["send_to_receive_ms"] = [percentile(deliveries, p) for p in (50, 95, 99)]
    figures["burst_deliveries_per_s"] = len(burst) / (max(burst) - burst_started) if burst else 0
    figures["post_ms"] = [percentile(posts, p) for p in (50, 99)]
    figures["cpu_us_per_delivery"] = burst_cpu / max(1, len(burst)) * 1e6

    clients, figures["join_double"] = join_storm(2 * SOCKETS, 0, offset=2 * SOCKETS)
    _, lost = finish(clients)
    figures["closed_by_server"] += len(lost)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
