"""Conversations, per merchandiser profile, in a local SQLite file ($ATELIER_STYLIST_DB).

A conversation keeps its messages (text, intent, the prompt used, the image as PNG bytes, the
products shown) and its state (slots so far, product filters, which messages hold the looks and
which look is current), so it can be reopened after a reload or days later.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, profile TEXT NOT NULL, title TEXT NOT NULL,
    created REAL NOT NULL, updated REAL NOT NULL, state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_by_profile ON conversations (profile, updated);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    role TEXT NOT NULL, text TEXT NOT NULL, intent TEXT, prompt TEXT, image BLOB,
    products TEXT NOT NULL, created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages (conversation_id, id);
"""


def empty_state() -> dict[str, Any]:
    return {"slots": {}, "filters": {}, "looks": [], "current": None}


@dataclass
class Message:
    role: str  # "user" or "assistant"
    text: str
    intent: str | None = None
    prompt: str | None = None
    image: bytes | None = None
    products: list[dict[str, Any]] = field(default_factory=list)  # {"id", "score", "fields"}
    id: int | None = None


class ConversationStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """One transaction on a short-lived connection (Streamlit runs each session in its own thread)."""
        db = sqlite3.connect(self.path, timeout=30)
        try:
            with db:
                yield db
        finally:
            db.close()

    def create(self, profile: str, title: str) -> str:
        conversation_id = uuid.uuid4().hex[:12]
        now = time.time()
        with self._connect() as db:
            db.execute("INSERT INTO conversations VALUES (?, ?, ?, ?, ?, ?)",
                       (conversation_id, profile, title[:80], now, now, json.dumps(empty_state())))
        return conversation_id

    def conversations(self, profile: str) -> list[dict[str, Any]]:
        """The profile's conversations, most recently used first."""
        with self._connect() as db:
            rows = db.execute("SELECT id, title, updated FROM conversations WHERE profile = ? ORDER BY updated DESC",
                              (profile,)).fetchall()
        return [{"id": row[0], "title": row[1], "updated": row[2]} for row in rows]

    def profile_of(self, conversation_id: str) -> str | None:
        with self._connect() as db:
            row = db.execute("SELECT profile FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        return row[0] if row else None

    def add(self, conversation_id: str, message: Message) -> Message:
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO messages (conversation_id, role, text, intent, prompt, image, products, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, message.role, message.text, message.intent, message.prompt, message.image,
                 json.dumps(message.products), time.time()))
            db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (time.time(), conversation_id))
        message.id = cursor.lastrowid
        return message

    def messages(self, conversation_id: str) -> list[Message]:
        with self._connect() as db:
            rows = db.execute("SELECT id, role, text, intent, prompt, image, products FROM messages "
                              "WHERE conversation_id = ? ORDER BY id", (conversation_id,)).fetchall()
        return [Message(role, text, intent, prompt, image, json.loads(products), id=row_id)
                for row_id, role, text, intent, prompt, image, products in rows]

    def image(self, message_id: int) -> bytes:
        with self._connect() as db:
            return db.execute("SELECT image FROM messages WHERE id = ?", (message_id,)).fetchone()[0]

    def state(self, conversation_id: str) -> dict[str, Any]:
        with self._connect() as db:
            row = db.execute("SELECT state FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        if row is None:
            raise KeyError(f"no conversation {conversation_id!r}")
        return json.loads(row[0])

    def save_state(self, conversation_id: str, state: dict[str, Any]) -> None:
        with self._connect() as db:
            db.execute("UPDATE conversations SET state = ?, updated = ? WHERE id = ?",
                       (json.dumps(state), time.time(), conversation_id))
