"""Persistent response cache: SQLite, one row per request, keyed by a stable hash.

A re-run of the same seeded work replays from here and costs nothing; a crashed run resumes by
replaying what it had already paid for. The key covers the model's cache identity, the
messages, the sampling parameters, the structured-output schema and the sample index, so two
samples of one prompt at temperature > 0 are cached apart and replay exactly.

The database is opened lazily with sqlite3 and used from worker threads, which keeps it
independent of any particular event loop. WAL journaling and a busy timeout make it safe for
several writers, including several processes. The file is created with mode 0600. A file that
is not a valid cache raises :class:`~apo_core.errors.CacheError` and is never overwritten; a
file another process holds locked past the busy timeout raises a ``CacheError`` that says so.
A write that fails (locked, disk full) never fails the call: it is counted, logged once as a
warning, and the engine reports it as a ``cache_write_failed`` event.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from apo_core.errors import CacheError
from apo_core.types import Completion, CompletionParams, Message, Usage

CACHE_FORMAT_VERSION = 1
logger = logging.getLogger("apo_core")
_BUSY_CODES = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED (extended codes keep these in the low byte)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL
)
"""
_COLUMNS = {"key", "model_id", "payload", "created_at"}


def cache_key(
    identity: str,
    messages: list[Message],
    params: CompletionParams,
    *,
    response_format: type[BaseModel] | None = None,
    sample_index: int = 0,
) -> str:
    """A stable SHA-256 key of everything that determines a response.

    The same request always gives the same key, in any process and Python version; any
    difference in model, messages, parameters, schema or sample index gives a different key.
    """
    schema = response_format.model_json_schema() if response_format is not None else None
    material = {
        "v": CACHE_FORMAT_VERSION,
        "model": identity,
        "messages": [[m.role, m.content] for m in messages],
        "params": params.model_dump(mode="json"),
        "schema": schema,
        "sample": sample_index,
    }
    blob = json.dumps(material, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass
class CacheStats:
    """Counters of one cache object's use."""

    hits: int = 0
    misses: int = 0
    writes: int = 0
    write_errors: int = 0


def _decode(payload: str) -> Completion | None:
    """A stored row back as a completion; None (a miss) if the row is unreadable."""
    try:
        data: dict[str, Any] = json.loads(payload)
        return Completion(
            texts=data["texts"],
            usage=Usage.model_validate(data["usage"]),
            model_id=data["model_id"],
            cached=True,
            finish_reason=data.get("finish_reason"),
        )
    except (ValueError, KeyError, TypeError):
        return None


def is_locked_error(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite saying another connection holds the lock (busy/locked)."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF in _BUSY_CODES:
        return True
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _create_private(path: Path) -> None:
    """Create ``path`` with mode 0600 if it does not exist (never truncates)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)


class ResponseCache:
    """A persistent, process-safe cache of model responses.

    Args:
        path: the SQLite file; created (0600) with its folder when missing.
        busy_timeout: seconds to wait for another writer's lock before failing.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.stats = CacheStats()
        self.last_write_error: str | None = None
        """Why the latest failed write failed (no secrets: error type and SQLite's message)."""
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        try:
            _create_private(self.path)
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout, check_same_thread=False, isolation_level=None
            )
        except (OSError, sqlite3.Error) as exc:
            raise CacheError(f"cannot open the cache file {self.path}: {exc}") from exc
        try:
            # Read-only checks first: a file that is not ours must not be changed at all.
            tables = {
                row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if tables and "responses" not in tables:
                raise sqlite3.DatabaseError(f"it holds other tables: {sorted(tables)}")
            if "responses" in tables:
                columns = {row[1] for row in conn.execute("PRAGMA table_info(responses)")}
                if not _COLUMNS.issubset(columns):
                    raise sqlite3.DatabaseError("its responses table has other columns")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            conn.close()
            if is_locked_error(exc):
                raise self._locked_error(exc) from exc
            raise CacheError(
                f"the cache file {self.path} is not a usable apo-bpo cache ({exc}). "
                "It was left untouched: move it away, point `cache=` at another file, "
                "or pass cache=None to run without a cache."
            ) from exc
        self._conn = conn
        return conn

    def _locked_error(self, exc: sqlite3.Error) -> CacheError:
        return CacheError(
            f"the cache file {self.path} is locked by another process ({exc}; waited "
            f"{self.busy_timeout:g}s). The file is fine: retry when that process is done, "
            "raise busy_timeout, point `cache=` at another file, or pass cache=None to run "
            "without a cache."
        )

    def _write_failed(self, exc: BaseException) -> None:
        """Count a failed write; warn the first time (later ones are counted and evented)."""
        self.stats.write_errors += 1
        reason = "the file is locked by another process" if is_locked_error(exc) else str(exc)
        self.last_write_error = f"{type(exc).__name__}: {reason}"
        if self.stats.write_errors == 1:
            logger.warning(
                "could not write to the cache file %s (%s): the response is returned but will "
                "not replay; later failed writes are counted in cache.stats.write_errors",
                self.path,
                reason,
            )

    def get_sync(self, key: str) -> Completion | None:
        """Look ``key`` up; returns the cached completion marked ``cached=True``, or None."""
        with self._lock:
            conn = self._connect()
            try:
                row = conn.execute("SELECT payload FROM responses WHERE key = ?", (key,)).fetchone()
            except sqlite3.DatabaseError as exc:
                if is_locked_error(exc):
                    raise self._locked_error(exc) from exc
                raise CacheError(f"cannot read the cache file {self.path}: {exc}") from exc
        completion = None if row is None else _decode(row[0])
        with self._lock:
            if completion is None:
                self.stats.misses += 1
            else:
                self.stats.hits += 1
        return completion

    def put_sync(self, key: str, completion: Completion) -> bool:
        """Store ``completion`` under ``key``. Returns False (and counts it) if writing failed.

        A failed write never raises: the response was paid for and is returned to the caller
        regardless; only its replay is lost. It is counted in ``stats.write_errors``, its reason
        kept in :attr:`last_write_error`, and the first one is logged as a warning.
        """
        payload = json.dumps(
            {
                "texts": completion.texts,
                "usage": completion.usage.model_dump(),
                "model_id": completion.model_id,
                "finish_reason": completion.finish_reason,
            },
            ensure_ascii=False,
        )
        with self._lock:
            try:
                conn = self._connect()
                conn.execute(
                    "INSERT OR REPLACE INTO responses (key, model_id, payload, created_at) "
                    "VALUES (?, ?, ?, ?)",
                    (key, completion.model_id, payload, time.time()),
                )
            except (sqlite3.Error, CacheError) as exc:
                self._write_failed(exc)
                return False
            self.stats.writes += 1
        return True

    async def get(self, key: str) -> Completion | None:
        """Async :meth:`get_sync`, run in a worker thread."""
        return await asyncio.to_thread(self.get_sync, key)

    async def put(self, key: str, completion: Completion) -> bool:
        """Async :meth:`put_sync`, run in a worker thread."""
        return await asyncio.to_thread(self.put_sync, key, completion)

    def open(self) -> None:
        """Open (and validate) the file now instead of on first use."""
        with self._lock:
            self._connect()

    def __len__(self) -> int:
        with self._lock:
            conn = self._connect()
            (count,) = conn.execute("SELECT COUNT(*) FROM responses").fetchone()
        return int(count)

    def close(self) -> None:
        """Close the connection; the cache can be used again afterwards (it reopens)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
