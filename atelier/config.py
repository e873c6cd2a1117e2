"""Settings from the environment, with defaults that need nothing running beforehand.

| variable              | default                                   |
|-----------------------|-------------------------------------------|
| ATELIER_HOME          | <repo>/.atelier  (runtime state and data) |
| ATELIER_PROFILE       | tiny                                      |
| ATELIER_TRITON_URL    | localhost:8001   (gRPC)                   |
| ATELIER_MILVUS_URI    | <home>/milvus/catalog.db (Milvus Lite), or |
|                       | the server `atelier up` runs for that file |
| ATELIER_MILVUS_TOKEN  | none; `user:password` for a Milvus server |
|                       | with authentication on (docs/deploy.md)   |
| ATELIER_TRITON_ADMIN_KEY | for the embedded Triton's model-control |
|                       | and shared-memory endpoints; unset: a     |
|                       | random key kept in <home>/triton-admin-key |
| ATELIER_COLLECTION    | catalog                                   |
| ATELIER_TRENDS_COLLECTION | trends (imported social posts)        |
| ATELIER_MODEL_REPOSITORY | <repo>/model_repository                |
| ATELIER_STYLIST_DB    | <home>/stylist.sqlite3 (conversations)    |
| ATELIER_LLM_URL, _MODEL, _TIMEOUT_S, _API_KEY | optional LLM for the stylist (atelier/stylist/llm.py) |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from atelier.families import MODEL_PROFILES
from atelier.ports import port_in_use

REPO_ROOT = Path(__file__).resolve().parent.parent
PROFILES = tuple(MODEL_PROFILES)


class AtelierError(Exception):
    """An error whose message is meant for the user as it is (no traceback needed)."""


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


# pymilvus pings every 10 s, idle or not. A gRPC server (Milvus Lite's too) takes a ping without data as a strike,
# and after a few closes the channel with "too many pings": the first call after about 100 s idle failed (a dashboard
# left open, a test suite between two searches). Ping only during calls, and no more often than servers allow.
MILVUS_KEEPALIVE = {"grpc.keepalive_time_ms": 300_000, "grpc.keepalive_permit_without_calls": False}


def milvus_token_from_env() -> str:
    """`user:password` for a Milvus server with authentication on; empty for Milvus Lite or an open server."""
    return _env("ATELIER_MILVUS_TOKEN", "")


@dataclass(frozen=True)
class Settings:
    home: Path = field(default_factory=lambda: Path(_env("ATELIER_HOME", str(REPO_ROOT / ".atelier"))))
    profile: str = field(default_factory=lambda: _env("ATELIER_PROFILE", "tiny"))
    triton_url: str = field(default_factory=lambda: _env("ATELIER_TRITON_URL", "localhost:8001"))
    milvus_uri: str = field(default_factory=lambda: _env("ATELIER_MILVUS_URI", ""))
    # Secrets stay out of repr(), which error reports and logs may print.
    triton_admin_key: str = field(default_factory=lambda: _env("ATELIER_TRITON_ADMIN_KEY", ""), repr=False)
    collection: str = field(default_factory=lambda: _env("ATELIER_COLLECTION", "catalog"))
    trends_collection: str = field(default_factory=lambda: _env("ATELIER_TRENDS_COLLECTION", "trends"))
    model_repository: Path = field(
        default_factory=lambda: Path(_env("ATELIER_MODEL_REPOSITORY", str(REPO_ROOT / "model_repository")))
    )

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise AtelierError(f"ATELIER_PROFILE must be one of {PROFILES}, not {self.profile!r}")
        if not self.milvus_uri:
            object.__setattr__(self, "milvus_uri", self._default_milvus_uri())

    @property
    def milvus_lite_file(self) -> Path:
        return self.home / "milvus" / "catalog.db"

    @property
    def milvus_endpoint_file(self) -> Path:
        """Written by `atelier up` while it serves the Lite file over gRPC."""
        return self.home / "milvus" / "server-uri"

    def _default_milvus_uri(self) -> str:
        """The Lite file, or the server `atelier up` runs for it while it runs (a .db opens in one process)."""
        endpoint = self.milvus_endpoint_file
        if endpoint.exists():
            uri = endpoint.read_text().strip()
            if port_in_use(int(uri.rsplit(":", 1)[1])):
                return uri
        return str(self.milvus_lite_file)

    @property
    def triton_admin_key_file(self) -> Path:
        """Where the embedded Triton's admin key is kept when ATELIER_TRITON_ADMIN_KEY is unset."""
        return self.home / "triton-admin-key"

    @property
    def stylist_db(self) -> Path:
        return Path(_env("ATELIER_STYLIST_DB", str(self.home / "stylist.sqlite3")))

    @property
    def demo_catalog_dir(self) -> Path:
        return self.home / "demo-catalog"

    @property
    def generators_dir(self) -> Path:
        """Where `atelier train generators` (and `atelier up`, in the background) trains the tiny generators."""
        return self.home / "models" / "generators"

    @property
    def profiles_dir(self) -> Path:
        """Shopper profiles imported from their order exports (atelier/profiles.py), one JSON file each."""
        return self.home / "profiles"
