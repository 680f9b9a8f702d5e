"""Portal real-time fan-out: SOCKETS WebSocket clients (spread over PROCESSES processes, each socket from its
own X-Forwarded-For address) subscribe to one conversation; MESSAGES messages are then posted over REST,
one every INTERVAL seconds. For each message, every socket's receive time is recorded (CLOCK_MONOTONIC,
shared by the processes). Prints:
  send-to-receive: from just before the POST to each socket's receipt (p50/p95/p99 over all deliveries);
  fan-out: from the first socket's receipt to the last's, per message (p50/p99 over messages);
  server fan-out: the server's own histogram (hub until every socket has written the event) over the
  messages only, read from /metrics before and after them (so the presence of the joins is left out).
Usage: realtime.py URL CLIENT_TOKEN ENGINEER_TOKEN THREAD_ID"""
import asyncio
import json
import multiprocessing
import os
import re
import sys
import time
import urllib.request

import websockets

URL, CLIENT, ENGINEER, THREAD = sys.argv[1:5]
SOCKETS = int(os.environ.get("SOCKETS", "1000"))
PROCESSES = int(os.environ.get("PROCESSES", "4"))
MESSAGES = int(os.environ.get("MESSAGES", "100"))
INTERVAL = float(os.environ.get("INTERVAL", "0.1"))


def address(n):
    return f"10.9.{n // 256}.{n % 256}"


async def client_process(first, count, ready, results):
    received = {}

    async def one(n):
        token = CLIENT if n % 2 else ENGINEER
        async with websockets.connect(URL.replace("http", "ws", 1) + "/api/portal/realtime", max_queue=None,
                                      additional_headers={"Authorization": "Bearer " + token, "X-Forwarded-For": address(n)}) as ws:
            await ws.send(json.dumps({"type": "subscribe", "threadIds": [THREAD]}))
            while True:
                frame = json.loads(await ws.recv())
                if frame["type"] == "subscribed":
                    break
            ready.put(1)
            while True:
                text = await ws.recv()
                # Every socket also gets every other socket's presence: parse only what is measured.
                if '"type":"message.created"' in text:
                    body = json.loads(text)["data"]["body"]
                    received.setdefault(body, []).append(time.perf_counter())
                    if body == f"bench {MESSAGES - 1}":
                        return

    await asyncio.gather(*(one(n) for n in range(first, first + count)))
    results.put(received)


def run_clients(first, count, ready, results):
    asyncio.run(client_process(first, count, ready, results))


def post(i):
    request = urllib.request.Request(f"{URL}/api/portal/conversations/{THREAD}/messages", method="POST",
                                     data=json.dumps({"body": f"bench {i}"}).encode(),
                                     headers={"Authorization": "Bearer " + CLIENT, "Content-Type": "application/json",
                                              "X-Forwarded-For": address(60000 + i)})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201, response.status


def fanout_buckets():
    text = urllib.request.urlopen(URL + "/metrics", timeout=10).read().decode()
    found = re.findall(r'flux_realtime_fanout_duration_seconds_bucket\{le="([^"]+)"\} ([0-9.e+]+)', text)
    return {float("inf") if le == "+Inf" else float(le): float(n) for le, n in found}


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    ready, results = multiprocessing.Queue(), multiprocessing.Queue()
    share = SOCKETS // PROCESSES
    processes = [multiprocessing.Process(target=run_clients, args=(p * share, share, ready, results)) for p in range(PROCESSES)]
    started = time.perf_counter()
    for process in processes:
        process.start()
    for _ in range(share * PROCESSES):
        ready.get(timeout=120)
    print(f"{share * PROCESSES} sockets subscribed in {time.perf_counter() - started:.1f}s")
    before = fanout_buckets()
    sent = {}
    for i in range(MESSAGES):
        sent[f"bench {i}"] = time.perf_counter()
        post(i)
        time.sleep(INTERVAL)
    time.sleep(1)
    after = fanout_buckets()
    received = {}
    for _ in processes:
        for body, times in results.get(timeout=120).items():
            received.setdefault(body, []).extend(times)
    for process in processes:
        process.join()
    deliveries = [(t - sent[body]) * 1000 for body, times in received.items() for t in times]
    spreads = [(max(times) - min(times)) * 1000 for times in received.values()]
    expected = share * PROCESSES * MESSAGES
    print(f"deliveries: {len(deliveries)} of {expected}")
    print("send-to-receive ms: p50 {:.1f}  p95 {:.1f}  p99 {:.1f}  (target p95 <= 100)".format(
        percentile(deliveries, 50), percentile(deliveries, 95), percentile(deliveries, 99)))
    print("clients' spread ms (first to last socket's receipt, per message): p50 {:.1f}  p99 {:.1f}".format(
        percentile(spreads, 50), percentile(spreads, 99)))
    counts = sorted((le, after[le] - before.get(le, 0)) for le in after)
    total = counts[-1][1]
    at = lambda q: next(le for le, n in counts if n >= q * total) * 1000
    print(f"server fan-out (hub to last socket written), {int(total)} events while the messages were sent: p50 <= {at(0.5):g} ms, p99 <= {at(0.99):g} ms "
          "(target p99 <= 20)")


if __name__ == "__main__":
    main()
