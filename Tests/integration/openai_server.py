"""A local OpenAI-compatible chat-completions server for the tests, speaking the real wire format: a POST to
/v1/chat/completions with `stream: true` is answered with server-sent `chat.completion.chunk` events
(content deltas, tool calls split across chunks, a final usage chunk with prompt_tokens_details.cached_tokens)
and `data: [DONE]`; GET /v1/models lists `models` (or fails, by `mode`). It records every request so a test can check what Flux sent.

The hostile modes (HOSTILE) answer as a broken or malicious service would: a tool call index that is negative or
huge, a chunk that is not JSON, a stream that never ends (slowly, flooding, or as one endless line)."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


HOSTILE = ("negative_index", "huge_index", "broken_json", "endless_trickle", "endless_flood", "endless_line")


class FakeOpenAI:
    def __init__(self, mode="tools", delay=0.0, models=("gpt-4o-mini", "gpt-4.1-mini")):
        self.mode = mode
        self.delay = delay
        self.models = models
        self.requests = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": None})
                if self.path != "/v1/models":
                    self.send_error(404)
                    return
                status = {"error": 500, "unauthorized": 401}.get(fake.mode, 200)
                body = {"object": "list", "data": [{"id": model, "object": "model"} for model in fake.models]} if status == 200 \
                    else {"error": {"message": "Incorrect API key provided" if status == 401 else "The server had an error"}}
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                time.sleep(fake.delay)
                if fake.mode == "error":
                    payload = json.dumps({"error": {"message": "The server had an error", "type": "server_error"}}).encode()
                    self.send_response(500)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                if fake.mode in HOSTILE:
                    try:
                        for data in fake.hostile():
                            self.wfile.write(data)
                            self.wfile.flush()
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    return
                for chunk in fake.chunks(body):
                    self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def chunk(delta=None, finish=None, usage=None):
        base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}
        if usage is not None:
            return dict(base, choices=[], usage=usage)
        return dict(base, choices=[{"index": 0, "delta": delta or {}, "finish_reason": finish}])

    def hostile(self):
        def event(chunk):
            return b"data: " + json.dumps(chunk).encode() + b"\n\n"

        call = {"id": "call_1", "type": "function", "function": {"name": "energy_savings_calculator", "arguments": "{}"}}
        if self.mode == "negative_index":
            yield event(self.chunk({"tool_calls": [dict(call, index=-1)]}))
        elif self.mode == "huge_index":
            yield event(self.chunk({"tool_calls": [dict(call, index=1_000_000_000)]}))
        elif self.mode == "broken_json":
            yield event(self.chunk({"content": "Hello"}))
            yield b'data: {"choices":[{"delta":{"content":"unterminated\n\n'
        elif self.mode == "endless_trickle":
            while True:
                yield event(self.chunk({"content": "more "}))
                time.sleep(0.1)
        elif self.mode == "endless_flood":
            while True:
                yield event(self.chunk({"content": "more " * 200}))
        elif self.mode == "endless_line":
            yield b"data: "
            while True:
                yield b"x" * 65536
        yield b"data: [DONE]\n\n"

    def chunks(self, body):
        answered_tool = body["messages"][-1]["role"] == "tool"
        if not answered_tool and "save" in body["messages"][-1]["content"]:
            # The model calls the savings calculator; its arguments arrive in three pieces.
            yield self.chunk({"role": "assistant", "content": None, "tool_calls": [
                {"index": 0, "id": "call_1", "type": "function", "function": {"name": "energy_savings_calculator", "arguments": ""}}]})
            for piece in ['{"industry":"tex', 'tile","productionVol', 'ume":20}']:
                yield self.chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            yield self.chunk({}, finish="tool_calls")
            yield self.chunk(usage={"prompt_tokens": 120, "completion_tokens": 18, "total_tokens": 138,
                                    "prompt_tokens_details": {"cached_tokens": 0}})
            return
        result = body["messages"][-1]["content"] if answered_tool else "no tool"
        for piece in ["RF drying ", "would save you ", f"about {result.split('=')[-1]} %."]:
            yield self.chunk({"content": piece})
        yield self.chunk({}, finish="stop")
        yield self.chunk(usage={"prompt_tokens": 150, "completion_tokens": 12, "total_tokens": 162,
                                "prompt_tokens_details": {"cached_tokens": 100}})
