"""The optional LLM interpreter against a local OpenAI-compatible test server: used when it answers
well, and the offline interpreter answers instead, within the timeout, when it is slow or talks nonsense."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import pytest
from aiohttp import web

from atelier.ports import free_port
from atelier.stylist.llm import LLMInterpreter, interpreter_from_env
from tests.http_server import serving

pytestmark = pytest.mark.integration
TIMEOUT_S = 1.0
GOOD = {"intent": "refine", "navigation": None, "target": None, "answer": None,
        "slots": {"category": "dresses", "max_price": 3000}}


def completion(content: str) -> dict:
    return {"choices": [{"message": {"role": "assistant", "content": content}}]}


async def chat(request: web.Request) -> web.Response:
    mode = request.match_info["mode"]
    body = await request.json()
    assert body["messages"][0]["role"] == "system"
    if mode == "slow":
        await asyncio.sleep(TIMEOUT_S * 5)
    if mode == "garbage":
        return web.json_response(completion("sure! here are some lovely outfit ideas"))
    if mode == "wrong-shape":
        return web.json_response({"id": "x", "object": "not a completion"})
    if mode == "error":
        return web.Response(status=500, text="boom")
    return web.json_response(completion(json.dumps(GOOD)))


@pytest.fixture(scope="module")
def llm_url() -> Iterator[str]:
    app = web.Application()
    app.router.add_post("/{mode}/v1/chat/completions", chat)
    with serving(app) as url:
        yield url


def test_a_good_llm_answer_is_used(llm_url):
    turn = LLMInterpreter(f"{llm_url}/good/v1", "test-model", TIMEOUT_S)("just dresses below three thousand", True)
    assert (turn.source, turn.intent, turn.slots.category, turn.slots.max_price) == ("llm", "refine", "dresses", 3000)


@pytest.mark.parametrize("mode", ["slow", "garbage", "wrong-shape", "error"])
def test_a_slow_or_broken_llm_falls_back_to_the_offline_interpreter_in_time(llm_url, mode):
    interpreter = LLMInterpreter(f"{llm_url}/{mode}/v1", "test-model", TIMEOUT_S)
    started = time.perf_counter()
    turn = interpreter("only show dresses under 3000", True)
    assert time.perf_counter() - started < TIMEOUT_S + 1.0
    assert (turn.source, turn.intent, turn.slots.category, turn.slots.max_price) == \
        ("offline", "refine", "dresses", 3000)


def test_an_unreachable_llm_falls_back(monkeypatch):
    monkeypatch.setenv("ATELIER_LLM_URL", f"http://127.0.0.1:{free_port()}/v1")
    monkeypatch.setenv("ATELIER_LLM_TIMEOUT_S", "1")
    turn = interpreter_from_env()("make the shirt sage green", True)
    assert (turn.source, turn.intent, turn.slots.color) == ("offline", "edit", "sage")


@pytest.mark.parametrize("mode", ["slow", "garbage"])
def test_the_chat_still_answers_when_the_llm_is_slow_or_talks_nonsense(llm_url, mode, triton, demo_store, tmp_path):
    from atelier.search import CatalogSearch
    from atelier.stylist.history import ConversationStore
    from atelier.stylist.stylist import Stylist

    history = ConversationStore(tmp_path / "stylist.sqlite3")
    stylist = Stylist(triton, CatalogSearch(triton, demo_store), history,
                      LLMInterpreter(f"{llm_url}/{mode}/v1", "test-model", TIMEOUT_S), trends=["sage"])
    conversation = history.create("tester", "llm fallback")
    answer = stylist.respond(conversation, "a breezy linen outfit for a beach wedding")
    assert answer.intent == "new_outfit" and answer.image and len(answer.products) == 5
    assert "linen" in answer.prompt and "trending sage" in answer.prompt
