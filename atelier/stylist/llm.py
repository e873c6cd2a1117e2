"""Optional: an LLM behind any OpenAI-compatible chat endpoint interprets turns.

Configured by environment: ATELIER_LLM_URL (the API base, e.g. http://localhost:11434/v1),
ATELIER_LLM_MODEL, ATELIER_LLM_TIMEOUT_S (default 5) and ATELIER_LLM_API_KEY (read when a request
is made, never stored). Any failure (timeout, refused connection, an answer that is not the JSON
asked for) falls back to the offline interpreter, so the chat always answers.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import fields

import aiohttp

from atelier.stylist.interpreter import INTENTS, NAVIGATIONS, Slots, Turn, interpret

SYSTEM = (
    "You interpret one message of a merchandiser chatting with a fashion stylist. Answer with one JSON "
    "object only: {\"intent\": one of " + json.dumps(list(INTENTS)) + ", \"navigation\": one of "
    + json.dumps(list(NAVIGATIONS)) + " or null, \"target\": look number or null, \"answer\": text for "
    "questions or null, \"slots\": {\"garments\": [...], \"color\", \"pattern\", \"fabric\", \"occasion\", "
    "\"season\", \"category\", \"min_price\", \"max_price\", \"style\", \"avoid\": [...]}}. new_outfit makes a "
    "new image, edit changes the current image, refine only filters the products shown, navigate moves "
    "between looks (back, undo, start_over, goto), question needs no image."
)
SLOT_NAMES = {f.name for f in fields(Slots)}


def parse_turn(text: str, content: str) -> Turn:
    """The LLM's JSON as a Turn; ValueError when it is not what was asked for."""
    try:
        data = json.loads(content.strip().removeprefix("```json").removesuffix("```"))
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON: {error}") from error
    if not isinstance(data, dict) or data.get("intent") not in INTENTS:
        raise ValueError("no valid intent")
    navigation = data.get("navigation")
    if navigation is not None and navigation not in NAVIGATIONS:
        raise ValueError(f"unknown navigation {navigation!r}")
    raw_slots = data.get("slots") or {}
    if not isinstance(raw_slots, dict) or set(raw_slots) - SLOT_NAMES:
        raise ValueError("unknown slots")
    slots = Slots(**{k: v for k, v in raw_slots.items() if v is not None})
    target = data.get("target")
    answer = data.get("answer")
    return Turn(text, data["intent"], slots, navigation, int(target) if target is not None else None,
                source="llm", answer=str(answer) if answer else None)


class LLMInterpreter:
    def __init__(self, url: str, model: str, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/") + "/chat/completions"
        self.model = model
        self.timeout_s = timeout_s

    async def _ask(self, text: str, has_image: bool) -> str:
        key = os.environ.get("ATELIER_LLM_API_KEY", "")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        body = {"model": self.model, "temperature": 0, "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": json.dumps({"message": text, "has_current_image": has_image})}]}
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session, \
                session.post(self.url, json=body, headers=headers) as response:
            response.raise_for_status()
            payload = await response.json(content_type=None)
        return payload["choices"][0]["message"]["content"]

    def __call__(self, text: str, has_image: bool) -> Turn:
        try:
            return parse_turn(text, asyncio.run(self._ask(text, has_image)))
        except (asyncio.TimeoutError, aiohttp.ClientError, OSError, ValueError, KeyError, IndexError, TypeError):
            return interpret(text, has_image)


def interpreter_from_env():
    """The LLM interpreter when ATELIER_LLM_URL is set, else the offline one."""
    url = os.environ.get("ATELIER_LLM_URL", "").strip()
    if not url:
        return interpret
    return LLMInterpreter(url, os.environ.get("ATELIER_LLM_MODEL", "gpt-4o-mini"),
                          float(os.environ.get("ATELIER_LLM_TIMEOUT_S", "5")))
