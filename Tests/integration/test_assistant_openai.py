"""FluxAI on an OpenAI-compatible service, against a local server that speaks the real wire format
(openai_server.py): tool calls streamed in pieces, text streamed on to the browser as server-sent events,
usage with cached tokens recorded, and a failing or silent service turned into a graceful answer."""
import json
import sqlite3
import time
import uuid

import pytest
import requests

from helpers import clean_env, csrf_session, wait_until
from openai_server import HOSTILE, FakeOpenAI

API_KEY = "sk-test-" + uuid.uuid4().hex


@pytest.fixture
def model_service():
    services = []

    def start(**options):
        service = FakeOpenAI(**options)
        services.append(service)
        return service

    yield start
    for service in services:
        service.stop()


def flux_with(serve, service, **extra):
    return serve(env=clean_env(OPENAI_API_KEY=API_KEY, OPENAI_BASE_URL=service.url, OPENAI_MODEL="gpt-4o-mini", **extra))


def chat_stream(server, session_id, message):
    """Posts one chat message asking for a stream; returns the (event, data) pairs as they arrived."""
    response = csrf_session(server).post(server.url + "/api/chat", json={"sessionId": session_id, "message": message, "locale": "en"},
                                         headers={"Accept": "text/event-stream"}, stream=True, timeout=30)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/event-stream")
    events = []
    for block in response.iter_lines(delimiter=b"\n\n"):
        if block:
            name, data = block.decode().split("\n", 1)
            events.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return events


def rows(workdir, query, *args, expect=1):
    """The rows once at least `expect` are there: Flux writes a turn within 25 ms of answering it."""
    def select():
        with sqlite3.connect(workdir / "data" / "flux.sqlite") as db:
            return db.execute(query, args).fetchall()

    return wait_until(select, 5, 0.02, enough=lambda found: len(found) >= expect)


def test_a_tool_call_round_trip_streams_to_the_browser_and_records_usage(workdir, serve, model_service):
    service = model_service()
    server = flux_with(serve, service)
    session_id = str(uuid.uuid4())
    events = chat_stream(server, session_id, "We dry textiles, 20 t/day. How much could we save?")

    deltas = [data["text"] for name, data in events if name == "delta"]
    assert len(deltas) == 3, events
    name, done = events[-1]
    assert name == "done" and done["reply"] == "".join(deltas)
    assert done["funnelStage"] == "RECOMMEND" and done["tools"] == ["energy_savings_calculator"]
    assert done["reply"].endswith("about 38.9 %.")

    first, second = service.requests
    assert first["path"] == "/v1/chat/completions" and first["headers"]["Authorization"] == "Bearer " + API_KEY
    body = first["body"]
    assert body["model"] == "gpt-4o-mini" and body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["prompt_cache_key"] and body["messages"][0]["role"] == "system"
    assert {tool["function"]["name"] for tool in body["tools"]} == {
        "case_studies", "energy_savings_calculator", "equipment_specs", "consultation_handoff"}
    assistant, tool = second["body"]["messages"][-2:]
    assert assistant["tool_calls"][0]["id"] == "call_1"
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"industry": "textile", "productionVolume": 20}
    assert tool == {"role": "tool", "tool_call_id": "call_1", "content": "estimatedSavingsPercent=38.9"}
    assert second["body"]["prompt_cache_key"] == body["prompt_cache_key"]

    (conversation_id, stage, savings, volume), = rows(
        workdir, 'SELECT id, "funnelStage", "estimatedSavingsPercent", "productionVolume" FROM ai_conversations WHERE "sessionId" = ?', session_id)
    assert stage == "RECOMMEND" and savings == 38.9 and volume == 20
    recorded = rows(workdir, 'SELECT type, "toolName", "tokensIn", "tokensOut", "cachedTokens", model FROM ai_events '
                             'WHERE "conversationId" = ? ORDER BY "createdAt"', conversation_id, expect=4)
    assert [row[0] for row in recorded] == ["user_msg", "tool_call", "tool_result", "ai_msg"]
    assert recorded[1][1] == "energy_savings_calculator"
    assert recorded[3][2:] == (270, 30, 100, "gpt-4o-mini")

    # The next turn carries the conversation so far.
    chat_stream(server, session_id, "Thanks, and who are you?")
    history = service.requests[-1]["body"]["messages"]
    assert [m["role"] for m in history] == ["system", "user", "assistant", "user"]
    assert history[2]["content"] == done["reply"]


@pytest.mark.parametrize("mode, delay, settings", [("error", 0, {}), ("tools", 4, {"OPENAI_TIMEOUT_SECONDS": "1"})],
                         ids=["service error", "service silent past the timeout"])
def test_a_failing_service_gives_a_graceful_answer_and_an_error_event(workdir, serve, model_service, mode, delay, settings):
    service = model_service(mode=mode, delay=delay)
    server = flux_with(serve, service, **settings)
    session = csrf_session(server)
    started = time.monotonic()
    response = session.post(server.url + "/api/chat", json={"sessionId": "s-" + uuid.uuid4().hex, "message": "Hello"}, timeout=30)
    assert response.status_code == 200, response.text
    assert "engineer" in response.json()["reply"]
    assert time.monotonic() - started < 3.5
    (payload,), = rows(workdir, "SELECT \"payloadJson\" FROM ai_events WHERE type = 'error'")
    assert ("500" in payload) if mode == "error" else payload
    assert API_KEY not in server.log_text()


@pytest.mark.parametrize("mode", HOSTILE)
def test_a_hostile_service_cannot_crash_or_hang_flux(workdir, serve, model_service, mode):
    """A negative index used to trap (the process ended), a huge one to allocate without bound, an endless stream
    to hold the request for ever; each must end the turn with the graceful answer and an error event."""
    service = model_service(mode=mode)
    server = flux_with(serve, service, OPENAI_TIMEOUT_SECONDS="1")
    started = time.monotonic()
    events = chat_stream(server, "s-" + uuid.uuid4().hex, "Hello")
    name, done = events[-1]
    assert name == "done" and "engineer" in done["reply"], events[-3:]
    # The turn's limit is four read timeouts; the rest is slack for a loaded machine.
    assert time.monotonic() - started < 15
    (payload,), = rows(workdir, "SELECT \"payloadJson\" FROM ai_events WHERE type = 'error'")
    assert "model service" in payload
    assert requests.get(server.url + "/api/health/live", timeout=5).status_code == 200
    assert API_KEY not in server.log_text()
