#!/usr/bin/env python3
"""Flux reference worker: pulls the desired state, reports the observed state, logs messages.

The protocol is docs/workers.md. The "channel" here is simulated (a QR to scan, replies composed from the
configuration); the test hook (--hook-port) stands in for the phone and the customers. Standard library only.
"""
import argparse
import json
import os
import random
import secrets
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "reference-worker 1.0"
POLL_TIMEOUT = 35       # Flux answers a long poll after 25 s at most; a little more covers the network.
QR_LIFETIME = 60        # seconds; Flux accepts up to 10 minutes.
MAX_QUEUED_LOGS = 1000  # message logs kept while Flux cannot be reached; the oldest are dropped first.
MAX_LOG_BATCH = 500     # Flux takes 1 to 500 entries per post.
DEFAULT_NUMBER = "+390000000000"
_print_lock = threading.Lock()


def log(level, message, **fields):
    """One JSON object per line on stderr, so a log collector can parse it. Never pass the key here."""
    line = json.dumps({"time": iso(now()), "level": level, "message": message, "fields": fields})
    with _print_lock:
        print(line, file=sys.stderr, flush=True)


def now():
    return datetime.now(timezone.utc)


def iso(moment):
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Retry(Exception):
    """A network error, a 5xx or a 429: worth trying again later."""


class Refused(Exception):
    """401 or 403: the key is wrong, revoked or lacks a scope. Retrying cannot help."""


class Flux:
    """The three calls of the protocol, over urllib. Raises Retry or Refused; returns (status, body)."""

    def __init__(self, url, key):
        self.url, self.key = url.rstrip("/"), key

    def call(self, method, path, body=None, timeout=10):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", "Bearer " + self.key)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read()
                return response.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as error:
            text = error.read().decode(errors="replace")[:500]
            if error.code in (401, 403):
                raise Refused(f"{method} {path} answered {error.code}: {text}") from None
            if error.code == 429 or error.code >= 500:
                raise Retry(f"{method} {path} answered {error.code}") from None
            return error.code, text  # another 4xx (e.g. 400 with the fields named): a bug, not an outage
        except (OSError, ValueError) as error:  # refused, reset, timed out, unreadable answer
            raise Retry(f"{method} {path}: {error}") from None


class Backoff:
    """1 s doubling to 30 s, with jitter so many workers do not all come back in the same second."""

    def __init__(self):
        self.delay = 1.0

    def wait(self, stop_event):
        stop_event.wait(random.uniform(self.delay / 2, self.delay))
        self.delay = min(self.delay * 2, 30.0)

    def reset(self, what):
        if self.delay > 1.0:
            log("info", "Flux reachable again", call=what)
        self.delay = 1.0


class Worker:
    def __init__(self, flux, name, state_file):
        self.flux, self.name, self.state_file = flux, name, state_file
        self.lock = threading.RLock()
        self.stop_event = threading.Event()   # set on SIGTERM/SIGINT or a refused key
        self.wake = threading.Event()         # set when the heartbeat thread should report now
        self.exit_code = 0
        self.status, self.qr, self.last_error = "starting", None, None  # "starting": the process itself
        self.running = False                  # whether the assistant (the channel) is up
        self.run, self.config, self.heartbeat_seconds = False, {}, 30
        self.desired_version = None
        self.paired_number = self.load_state().get("pairedNumber")
        self.reports = []                     # snapshots not yet sent, so a brief `starting` is still reported
        self.done_commands, self.pending_acks = set(), set()
        self.sequence = 0
        self.logs, self.logs_lock = [], threading.Lock()

    # -- state file: only the pairing survives a restart, like a real channel's session ---------------------
    def load_state(self):
        try:
            with open(self.state_file) as file:
                return json.load(file)
        except (OSError, ValueError):
            return {}

    def save_state(self):
        temporary = self.state_file + ".tmp"  # write then rename: a crash never leaves half a file
        with open(temporary, "w") as file:
            json.dump({"pairedNumber": self.paired_number}, file)
        os.replace(temporary, self.state_file)

    # -- observed state ---------------------------------------------------------------------------------
    def set_status(self, status):
        with self.lock:
            self.status = status
            if status != "pairing":
                self.qr = None
            self.reports.append(self.snapshot())
        log("info", "status", status=status)
        self.wake.set()

    def snapshot(self):
        report = {"name": self.name, "status": self.status, "version": VERSION}
        if self.config.get("version") is not None:  # none before the first desired state arrives
            report["configVersion"] = self.config["version"]
        if self.qr:
            report["qr"] = dict(self.qr)
        if self.status in ("connected", "degraded"):
            report["pairedNumber"] = self.paired_number
        if self.last_error:
            report["lastError"] = self.last_error
        return report

    def new_qr(self):
        # A real channel gets this from its provider; the payload is what the portal draws as a QR code.
        self.qr = {"payload": "flux-pair:" + secrets.token_urlsafe(24),
                   "expiresAt": iso(now() + timedelta(seconds=QR_LIFETIME))}
        self.set_status("pairing")

    def come_up(self):
        """Start the assistant: connected if the state file holds a pairing, else show a QR to scan."""
        self.running = True
        self.set_status("starting")
        if self.paired_number:
            self.set_status("connected")
        else:
            with self.lock:
                self.new_qr()

    # -- desired state ----------------------------------------------------------------------------------
    def apply(self, desired):
        with self.lock:
            self.desired_version = desired.get("version")
            self.run = bool(desired.get("run"))
            self.heartbeat_seconds = max(1, int(desired.get("heartbeatSeconds") or 30))
            config, old = desired.get("config") or {}, self.config
            self.config = config  # replies read it at once; the next heartbeat reports its version
            if config.get("version") != old.get("version"):
                log("info", "configuration", version=config.get("version"), etag=config.get("etag"))
                self.wake.set()
            for command in desired.get("commands") or []:
                self.pending_acks.add(command["id"])  # (re-)acknowledge, even one already run
                if command["id"] in self.done_commands:
                    continue  # listed again before Flux saw our ack: do not run it twice
                self.done_commands.add(command["id"])
                self.run_command(command)
            # `run` is the standing order: start and stop commands agree with it (Flux sets both), so the
            # command only needs acknowledging; restart is the one command with an effect of its own.
            if not self.run and self.status != "stopped":
                self.running = False
                self.set_status("stopped")
            elif self.run and not self.running:
                self.come_up()
        if self.pending_acks:
            self.wake.set()

    def run_command(self, command):
        log("info", "command", id=command["id"], kind=command.get("kind"))
        if command.get("kind") == "restart" and self.run:
            # Drop the channel's in-memory state (come_up reports `starting` and makes a new QR if needed);
            # the pairing stays in the state file, as a real channel's session would.
            self.running, self.qr = False, None
            self.come_up()
        elif command.get("kind") not in ("start", "stop", "restart"):
            log("warning", "unknown command kind, acknowledged without effect", kind=command.get("kind"))

    def poll_loop(self):
        backoff = Backoff()
        while not self.stop_event.is_set():
            query = f"?name={urllib.parse.quote(self.name)}"
            if self.desired_version is not None:
                query += f"&after={self.desired_version}"
            try:
                status, body = self.flux.call("GET", "/api/portal/worker/desired" + query, timeout=POLL_TIMEOUT)
            except Retry as error:
                log("warning", "desired state unavailable, backing off", error=str(error), delay=backoff.delay)
                backoff.wait(self.stop_event)
                continue
            except Refused as error:
                return self.refused(error)
            if status != 200:
                log("error", "unexpected answer to the desired state", status=status, body=body)
                backoff.wait(self.stop_event)
                continue
            backoff.reset("desired")
            if body.get("version") != self.desired_version or body.get("commands"):
                self.apply(body)

    # -- heartbeats: their own thread, so a long poll never delays them --------------------------------
    def heartbeat_loop(self):
        backoff = Backoff()
        while not self.stop_event.is_set():
            with self.lock:
                expires = self.qr and datetime.fromisoformat(self.qr["expiresAt"].replace("Z", "+00:00"))
                if self.status == "pairing" and expires and expires <= now():
                    self.new_qr()  # the old code can no longer be scanned: show a fresh one
                reports, current = self.reports, self.snapshot()
                if not reports or reports[-1] != current:
                    reports.append(current)  # e.g. a new configVersion after the last change of status
                self.reports = []
                acks = set(sorted(self.pending_acks)[:50])  # Flux takes at most 50 per report; the rest next time
                self.wake.clear()  # what woke us is in this batch
            try:
                for report in reports:
                    self.send_heartbeat(report, acks)
                backoff.reset("heartbeat")
                with self.lock:
                    self.pending_acks -= acks
            except Retry as error:
                with self.lock:  # during an outage only the latest state matters
                    self.reports = self.reports or [self.snapshot()]
                log("warning", "heartbeat failed, backing off", error=str(error), delay=backoff.delay)
                backoff.wait(self.stop_event)
                continue
            except Refused as error:
                return self.refused(error)
            self.flush_logs()  # message logs kept after a failure go with the next post
            wait = self.heartbeat_seconds
            if self.qr:
                expires = datetime.fromisoformat(self.qr["expiresAt"].replace("Z", "+00:00"))
                wait = min(wait, max(0.1, (expires - now()).total_seconds()))
            self.wake.wait(wait)

    def send_heartbeat(self, report, acks):
        with self.lock:  # strictly increasing, and growing across restarts because it is the clock
            self.sequence = max(self.sequence + 1, int(time.time() * 1000))
            body = dict(report, sequence=self.sequence)
        if acks:
            body["acknowledged"] = sorted(acks)
        status, answer = self.flux.call("POST", "/api/portal/worker/heartbeat", body)
        if status >= 300:
            log("error", "heartbeat rejected", status=status, body=answer)

    # -- message logs ----------------------------------------------------------------------------------
    def queue_logs(self, entries):
        with self.logs_lock:
            self.logs.extend(entries)
            dropped = len(self.logs) - MAX_QUEUED_LOGS
            if dropped > 0:
                del self.logs[:dropped]
                log("warning", "message log queue full, oldest entries dropped", dropped=dropped)

    def flush_logs(self):
        """One attempt; what fails stays queued. Flux skips known externalIds, so resending is safe."""
        with self.logs_lock:
            batch = self.logs[:MAX_LOG_BATCH]
        if not batch:
            return True
        try:
            status, answer = self.flux.call("POST", "/api/portal/worker/message-logs", {"entries": batch})
        except Retry as error:
            log("warning", "message logs kept for later", error=str(error), queued=len(self.logs))
            return False
        except Refused as error:
            self.refused(error)
            return False
        if status >= 300:  # 400: these entries will never be accepted; keep the queue moving
            log("error", "message logs rejected, dropped", status=status, body=answer)
        sent = {entry["externalId"] for entry in batch}
        with self.logs_lock:
            self.logs = [entry for entry in self.logs if entry["externalId"] not in sent]
        return status < 300

    def refused(self, error):
        log("error", "Flux refused the API key: check that it is valid, not revoked, and has the scopes "
                     "worker, heartbeat and logs:write", error=str(error))
        self.exit_code = 2
        self.stop_event.set()

    # -- the simulated channel -------------------------------------------------------------------------
    def scan(self, number):
        with self.lock:
            if self.status != "pairing":
                return 409, {"error": "not pairing", "status": self.status}
            self.paired_number = number or DEFAULT_NUMBER
            self.save_state()
            self.set_status("connected")
            return 200, {"status": self.status, "pairedNumber": self.paired_number}

    def inbound(self, sender, text):
        with self.lock:
            if not (self.run and self.status == "connected"):
                return 503, {"error": "not connected", "status": self.status}
            reply, ours = compose_reply(self.config), self.paired_number
        moment = iso(now())
        self.queue_logs([
            {"direction": "inbound", "from": sender, "to": ours, "text": text,
             "externalId": f"in-{uuid.uuid4()}", "occurredAt": moment},
            {"direction": "outbound", "from": ours, "to": sender, "text": reply,
             "externalId": f"out-{uuid.uuid4()}", "occurredAt": moment}])
        return 200, {"reply": reply, "logged": self.flush_logs()}

    def state(self):
        with self.lock:
            return 200, {"status": self.status, "run": self.run, "desiredVersion": self.desired_version,
                         "configVersion": self.config.get("version"), "pairedNumber": self.paired_number,
                         "qr": self.qr and self.qr["payload"], "doneCommands": sorted(self.done_commands)}


TEMPLATES = {  # greeting, open now, closed now, today's hours, closed today
    "it": ("Ciao! Ti risponde {name}.", "Siamo aperti adesso.", "Ora siamo chiusi.", "Oggi: {hours}.", "Oggi siamo chiusi."),
    "en": ("Hello! This is {name}.", "We are open now.", "We are closed now.", "Today: {hours}.", "We are closed today."),
    "es": ("¡Hola! Te responde {name}.", "Ahora estamos abiertos.", "Ahora estamos cerrados.", "Hoy: {hours}.", "Hoy estamos cerrados."),
    "fr": ("Bonjour ! Ici {name}.", "Nous sommes ouverts.", "Nous sommes fermés.", "Aujourd'hui : {hours}.", "Nous sommes fermés aujourd'hui."),
    "de": ("Hallo! Hier ist {name}.", "Wir haben jetzt geöffnet.", "Wir haben jetzt geschlossen.", "Heute: {hours}.", "Heute haben wir geschlossen."),
}


def compose_reply(config, moment=None):
    """Greeting, open now or not, and today's hours. Hours are read in the worker's local time zone."""
    greeting, is_open, is_closed, hours_today, closed_today = TEMPLATES.get(config.get("language"), TEMPLATES["en"])
    moment = moment or datetime.now().astimezone()
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[moment.weekday()]
    intervals = (config.get("openingHours") or {}).get(day) or []
    clock = moment.strftime("%H:%M")  # HH:MM strings compare like times
    open_now = any(i["open"] <= clock < i["close"] for i in intervals)
    parts = [greeting.format(name=config.get("businessName") or "Flux"), is_open if open_now else is_closed]
    hours = ", ".join(f"{i['open']}–{i['close']}" for i in intervals)
    parts.append(hours_today.format(hours=hours) if intervals else closed_today)
    return " ".join(parts)


def serve_hook(worker, port):
    """For tests and demos only: stands in for the phone (scan) and the customers (inbound)."""
    class Hook(BaseHTTPRequestHandler):
        def answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def body(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                return json.loads(raw) if raw else {}
            except ValueError:
                return {}

        def do_GET(self):
            if self.path == "/state":
                self.answer(*worker.state())
            else:
                self.answer(404, {"error": "not found"})

        def do_POST(self):
            body = self.body()
            if self.path == "/scan":
                self.answer(*worker.scan(body.get("number")))
            elif self.path == "/inbound":
                self.answer(*worker.inbound(body.get("from"), body.get("text", "")))
            else:
                self.answer(404, {"error": "not found"})

        def log_message(self, *args):
            pass  # our own JSON lines are enough

    server = ThreadingHTTPServer(("127.0.0.1", port), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    log("info", "test hook listening", port=port)


def main():
    parser = argparse.ArgumentParser(description="Flux reference worker")
    parser.add_argument("--url", required=True, help="Flux's base address, e.g. http://127.0.0.1:8080")
    parser.add_argument("--key", default=os.environ.get("FLUX_WORKER_KEY"), help="API key (or FLUX_WORKER_KEY)")
    parser.add_argument("--name", default="main")
    parser.add_argument("--state-file", help="where the pairing is kept (default flux-worker-NAME.json)")
    parser.add_argument("--hook-port", type=int, help="serve the test hook on 127.0.0.1:PORT")
    args = parser.parse_args()
    if not args.key:
        parser.error("an API key is needed: --key or FLUX_WORKER_KEY")
    worker = Worker(Flux(args.url, args.key), args.name, args.state_file or f"flux-worker-{args.name}.json")

    def on_signal(number, _frame):
        log("info", "signal received, stopping", signal=signal.Signals(number).name)
        worker.stop_event.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    log("info", "worker starting", url=args.url, name=args.name, version=VERSION)
    if args.hook_port:
        serve_hook(worker, args.hook_port)
    threading.Thread(target=worker.heartbeat_loop, daemon=True).start()
    threading.Thread(target=worker.poll_loop, daemon=True).start()
    while not worker.stop_event.wait(1):
        pass
    if worker.exit_code == 0:  # say goodbye once, best effort: Flux would otherwise wait to call us stale
        with worker.lock:
            worker.status, worker.qr = "stopped", None
            report, acks = worker.snapshot(), set(worker.pending_acks)
        try:
            worker.send_heartbeat(report, acks)
        except (Retry, Refused) as error:
            log("warning", "final heartbeat not delivered", error=str(error))
    log("info", "worker exiting", code=worker.exit_code)
    sys.exit(worker.exit_code)


if __name__ == "__main__":
    main()
