"""Connection floods against a running `flux serve` (driven by bench/flood.sh).

slow-headers: N connections spread over A loopback source addresses each send half a request head, then a
header line every 10 s, and wait for the server to close them. body-dribble: each sends a complete head of
an upload with a large Content-Length, then one byte a second. A separate process times GET /api/health and
GET /api/health/live on fresh connections every 50 ms for the whole flood. Prints one JSON object: health
latency percentiles, how long each flood connection lived after its first byte, how many got a 408, and
the server's open descriptors before, at the peak and after.
"""
import argparse
import errno
import json
import multiprocessing
import os
import queue
import select
import socket
import sys
import time

SLOW_HEAD = b"GET /api/health HTTP/1.1\r\nHost: flood\r\n"
DRIBBLE_HEAD = (b"POST /api/public-upload HTTP/1.1\r\nHost: flood\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                b"Content-Length: 10000000\r\n\r\n")


def descriptors(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def probe(port, stop, results):
    """Health on a fresh connection every 50 ms: what a new client (or a load balancer) sees."""
    latencies = {"/api/health": [], "/api/health/live": []}
    failures = 0
    request = "GET {} HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n"
    while not stop.is_set():
        for path in latencies:
            started = time.perf_counter()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
                    connection.sendall(request.format(path).encode())
                    answer = b""
                    while chunk := connection.recv(65536):
                        answer += chunk
                if not answer.startswith(b"HTTP/1.1 200"):
                    failures += 1
                    continue
                latencies[path].append((time.perf_counter() - started) * 1000)
            except OSError:
                failures += 1
        time.sleep(0.05)
    results.put({"latencies": latencies, "failures": failures})


def percentile(values, fraction):
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * fraction))], 2)


def flood_share(args, first, count, results):
    """Opens connections first..first+count-1 and watches them until the server closes each (one process)."""
    poller = select.epoll()
    sockets = {}          # fd -> socket
    first_byte = {}       # fd -> monotonic time the first request byte was sent
    saw_408 = set()       # fds (of open connections) that got a 408
    answered_408 = 0
    lifetimes = []
    refused = 0
    head = SLOW_HEAD if args.mode == "slow-headers" else DRIBBLE_HEAD
    started = time.monotonic()

    def handle(fd, events):
        nonlocal refused
        connection = sockets[fd]
        if fd not in first_byte:
            if events & (select.EPOLLERR | select.EPOLLHUP):
                refused += 1
                return finish(fd, counted=False)
            try:
                connection.send(head)
            except OSError:
                refused += 1
                return finish(fd, counted=False)
            first_byte[fd] = time.monotonic()
            poller.modify(fd, select.EPOLLIN | select.EPOLLRDHUP)
            return
        try:
            data = connection.recv(65536)
        except OSError:
            data = b""
        if data.startswith(b"HTTP/1.1 408"):
            saw_408.add(fd)
        if not data or events & (select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR):
            finish(fd, counted=True)

    def finish(fd, counted):
        nonlocal answered_408
        if counted:
            lifetimes.append(time.monotonic() - first_byte[fd])
        if fd in saw_408:
            saw_408.discard(fd)
            answered_408 += 1
        poller.unregister(fd)
        sockets.pop(fd).close()
        first_byte.pop(fd, None)

    def poll(timeout):
        for fd, events in poller.poll(timeout):
            if fd in sockets:
                handle(fd, events)

    for n in range(first, first + count):
        connection = socket.socket()
        connection.setblocking(False)
        address = n % args.addresses
        connection.bind((f"127.0.{1 + address // 250}.{2 + address % 250}", 0))
        code = connection.connect_ex(("127.0.0.1", args.port))
        if code not in (0, errno.EINPROGRESS):
            refused += 1
            connection.close()
            continue
        sockets[connection.fileno()] = connection
        poller.register(connection.fileno(), select.EPOLLOUT | select.EPOLLERR)
        if n % 500 == 499:
            poll(0)
    opened_in = time.monotonic() - started

    last_trickle = time.monotonic()
    limit = time.monotonic() + args.limit
    interval = 10 if args.mode == "slow-headers" else 1
    piece = b"X-Slow: 1\r\n" if args.mode == "slow-headers" else b"x"
    while sockets and time.monotonic() < limit:
        poll(0.05)
        if time.monotonic() - last_trickle >= interval:
            last_trickle = time.monotonic()
            for fd, connection in list(sockets.items()):
                if fd in first_byte:
                    try:
                        connection.send(piece)
                    except OSError:
                        pass
    still_open = len(sockets)
    for fd in list(sockets):
        finish(fd, counted=False)
    results.put({"opened_in": opened_in, "refused": refused, "still_open": still_open, "lifetimes": lifetimes,
                 "answered_408": answered_408})


def flood(args):
    idle_fds = descriptors(args.pid)
    peak_fds = idle_fds
    results = multiprocessing.Queue()
    # One process per share: each stays under this machine's descriptor limit (20,000, not raisable here).
    share = -(-args.connections // args.workers)
    workers = [multiprocessing.Process(target=flood_share, args=(args, first, min(share, args.connections - first), results))
               for first in range(0, args.connections, share)]
    for worker in workers:
        worker.start()
    shares = []
    while len(shares) < len(workers):
        try:
            shares.append(results.get(timeout=1))
        except queue.Empty:
            pass
        # Listing 20,000 descriptors is not free: once a second is enough to see the peak.
        peak_fds = max(peak_fds, descriptors(args.pid))
    for worker in workers:
        worker.join()

    settle = time.monotonic() + 15
    after_fds = descriptors(args.pid)
    while after_fds > idle_fds and time.monotonic() < settle:
        time.sleep(0.2)
        after_fds = descriptors(args.pid)
    lifetimes = [lived for part in shares for lived in part["lifetimes"]]
    return {
        "connections": args.connections, "addresses": args.addresses, "client_processes": len(workers),
        "opened_in_s": round(max(part["opened_in"] for part in shares), 1),
        "refused_or_failed": sum(part["refused"] for part in shares),
        "still_open_at_limit": sum(part["still_open"] for part in shares),
        "answered_408": sum(part["answered_408"] for part in shares),
        "closed": len(lifetimes),
        "closed_at_once": sum(1 for lived in lifetimes if lived < 1),
        "lived_s": {"min": percentile(lifetimes, 0), "p50": percentile(lifetimes, 0.5), "p99": percentile(lifetimes, 0.99),
                    "max": percentile(lifetimes, 1.0)},
        "over_bound": sum(1 for lived in lifetimes if lived > args.bound),
        "server_fds": {"idle": idle_fds, "peak": peak_fds, "after": after_fds},
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--mode", choices=["slow-headers", "body-dribble"], required=True)
    parser.add_argument("--connections", type=int, default=20_000)
    parser.add_argument("--addresses", type=int, default=100)
    parser.add_argument("--bound", type=float, required=True, help="seconds a flood connection may live")
    parser.add_argument("--limit", type=float, default=120, help="seconds to wait for the server to close them")
    parser.add_argument("--workers", type=int, default=2, help="client processes sharing the connections")
    args = parser.parse_args()

    stop = multiprocessing.Event()
    results = multiprocessing.Queue()
    prober = multiprocessing.Process(target=probe, args=(args.port, stop, results))
    prober.start()
    outcome = flood(args)
    stop.set()
    health = results.get(timeout=30)
    prober.join()
    outcome["health_ms"] = {path: {"count": len(values), "p50": percentile(values, 0.5), "p99": percentile(values, 0.99),
                                   "max": percentile(values, 1.0)}
                            for path, values in health["latencies"].items()}
    outcome["health_failures"] = health["failures"]
    outcome["mode"] = args.mode
    outcome["bound_s"] = args.bound
    print(json.dumps(outcome))
    passed = (outcome["over_bound"] == 0 and outcome["still_open_at_limit"] == 0 and health["failures"] == 0
              and outcome["server_fds"]["after"] <= outcome["server_fds"]["idle"]
              and all(figures["p99"] is not None and figures["p99"] <= 50 for figures in outcome["health_ms"].values()))
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
