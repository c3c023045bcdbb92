"""The response cache: key properties, file safety, concurrent writers."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from apo_core import (
    CacheError,
    CacheEvent,
    Completion,
    CompletionParams,
    Engine,
    Message,
    ResponseCache,
    ScriptedChatModel,
    Usage,
    cache_key,
)

roles = st.sampled_from(["system", "user", "assistant"])
messages_st = st.lists(
    st.builds(Message, role=roles, content=st.text(max_size=40)), min_size=1, max_size=4
)
params_st = st.builds(
    CompletionParams,
    temperature=st.floats(0, 2, allow_nan=False),
    max_tokens=st.none() | st.integers(1, 4096),
    n=st.integers(1, 8),
    stop=st.lists(st.text(min_size=1, max_size=5), max_size=3).map(tuple),
    seed=st.none() | st.integers(-(2**31), 2**31),
    top_p=st.none() | st.floats(0.01, 1.0),
)


FIELDS = "identity content role order temperature max_tokens n stop seed top_p schema sample"
FIELDS_LIST = FIELDS.split()


class Schema(BaseModel):
    answer: str


class OtherSchema(BaseModel):
    answer: int


@settings(max_examples=150, deadline=None)
@given(
    identity=st.text(max_size=20),
    messages=messages_st,
    params=params_st,
    sample=st.integers(0, 1000),
    schema=st.sampled_from([None, Schema, OtherSchema]),
)
def test_cache_key_is_stable_and_hex(
    identity: str,
    messages: list[Message],
    params: CompletionParams,
    sample: int,
    schema: type[BaseModel] | None,
) -> None:
    key = cache_key(identity, messages, params, response_format=schema, sample_index=sample)
    rebuilt = [Message(role=m.role, content=m.content) for m in messages]
    same_params = CompletionParams.model_validate(params.model_dump())
    again = cache_key(identity, rebuilt, same_params, response_format=schema, sample_index=sample)
    assert key == again
    assert len(key) == 64 and int(key, 16) >= 0


@settings(max_examples=150, deadline=None)
@given(
    messages=messages_st,
    params=params_st,
    sample=st.integers(0, 1000),
    field=st.sampled_from(FIELDS_LIST),
)
def test_cache_key_changes_with_every_field(
    messages: list[Message], params: CompletionParams, sample: int, field: str
) -> None:
    key = cache_key("m", messages, params, sample_index=sample)
    identity, msgs, p, schema, index = "m", list(messages), params, None, sample
    first = messages[0]
    if field == "identity":
        identity = "m2"
    elif field == "content":
        msgs[0] = Message(role=first.role, content=first.content + "!")
    elif field == "role":
        msgs[0] = Message(role="user" if first.role != "user" else "system", content=first.content)
    elif field == "order":
        msgs.append(first)
    elif field == "temperature":
        p = p.model_copy(update={"temperature": (p.temperature + 0.5) % 2.0})
    elif field == "max_tokens":
        p = p.model_copy(update={"max_tokens": (p.max_tokens or 0) + 1})
    elif field == "n":
        p = p.model_copy(update={"n": p.n % 8 + 1})
    elif field == "stop":
        p = p.model_copy(update={"stop": (*p.stop, "\n\n")})
    elif field == "seed":
        p = p.model_copy(update={"seed": (p.seed or 0) + 1})
    elif field == "top_p":
        p = p.model_copy(update={"top_p": 0.5 if p.top_p != 0.5 else 0.25})
    elif field == "sample":
        index = sample + 1
    other_schema: type[BaseModel] | None = Schema if field == "schema" else schema
    other_key = cache_key(identity, msgs, p, response_format=other_schema, sample_index=index)
    assert other_key != key


def test_keys_of_different_schemas_differ() -> None:
    msgs = [Message(role="user", content="q")]
    keys = {
        cache_key("m", msgs, CompletionParams(), response_format=s) for s in (Schema, OtherSchema)
    }
    assert len(keys) == 2


def completion(text: str = "hi") -> Completion:
    return Completion(texts=[text], usage=Usage(input_tokens=3, output_tokens=1), model_id="m")


def test_cache_file_is_private_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "folder" / "cache.sqlite"
    cache = ResponseCache(path)
    assert cache.get_sync("k") is None
    assert cache.put_sync("k", completion("stored"))
    got = cache.get_sync("k")
    assert got is not None and got.texts == ["stored"] and got.cached
    assert got.usage == Usage(input_tokens=3, output_tokens=1)
    for file in path.parent.iterdir():  # the database and its WAL/shm companions
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name
    assert (cache.stats.hits, cache.stats.misses, cache.stats.writes) == (1, 1, 1)
    assert len(cache) == 1
    cache.close()
    assert ResponseCache(path).get_sync("k") is not None  # reopens after close


@pytest.mark.parametrize(
    "content",
    [b"this is not a database, just some bytes" * 50, b"SQLite format 3\x00" + b"\xff" * 2000],
)
def test_corrupt_cache_file_raises_and_is_left_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "cache.sqlite"
    path.write_bytes(content)
    with pytest.raises(CacheError, match="left untouched"):
        ResponseCache(path).open()
    engine = Engine(ScriptedChatModel(default="x"), cache=path)
    with pytest.raises(CacheError):
        engine.complete_sync("q")
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.sqlite"]


def test_a_foreign_sqlite_database_is_refused_and_not_modified(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (name TEXT)")
    conn.execute("INSERT INTO users VALUES ('ada')")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(CacheError, match="other tables"):
        ResponseCache(path).open()
    assert path.read_bytes() == before


def test_an_unreadable_row_is_a_miss(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    cache = ResponseCache(path)
    cache.put_sync("k", completion())
    conn = sqlite3.connect(path)
    conn.execute("UPDATE responses SET payload = '{broken'")
    conn.commit()
    conn.close()
    assert cache.get_sync("k") is None
    assert cache.put_sync("k", completion("fresh"))
    got = cache.get_sync("k")
    assert got is not None and got.text == "fresh"


def test_many_threads_with_their_own_cache_objects_write_one_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def writer(worker: int) -> None:
        try:
            cache = ResponseCache(path)
            barrier.wait()
            for i in range(40):
                assert cache.put_sync(f"{worker}-{i}", completion(f"{worker}:{i}"))
                got = cache.get_sync(f"{worker}-{i}")
                assert got is not None and got.text == f"{worker}:{i}"
            cache.close()
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    cache = ResponseCache(path)
    assert len(cache) == 6 * 40
    got = cache.get_sync("5-39")
    assert got is not None and got.text == "5:39"


async def test_several_engines_share_one_cache_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    models = [ScriptedChatModel(default=f"engine {i}") for i in range(4)]
    engines = [Engine(m, cache=path) for m in models]
    prompts = [f"prompt {j}" for j in range(15)]
    await asyncio.gather(*(e.complete(p) for e in engines for p in prompts))
    total_model_calls = sum(len(m.calls) for m in models)
    assert 15 <= total_model_calls <= 60  # engines race; each prompt is stored once
    assert len(ResponseCache(path)) == 15
    late = Engine(ScriptedChatModel(default="never used"), cache=path)
    replies = [await late.complete(p) for p in prompts]
    assert all(r.cached and r.text.startswith("engine ") for r in replies)
    for e in [*engines, late]:
        e.close()


async def test_cache_write_failure_does_not_lose_the_answer(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    engine = Engine(ScriptedChatModel(default="paid for"), cache=path)
    await engine.complete("warm up")  # opens the file
    assert engine.cache is not None
    conn = sqlite3.connect(path)
    conn.execute(  # every later write fails; reads still work
        "CREATE TRIGGER refuse BEFORE INSERT ON responses BEGIN SELECT RAISE(ABORT, 'no'); END"
    )
    conn.commit()
    conn.close()
    result = await engine.complete("new")
    assert result.text == "paid for" and not result.cached
    assert engine.cache.stats.write_errors == 1
    engine.close()


WRITER = """
import sys
from apo_core import Completion, ResponseCache, Usage
cache = ResponseCache(sys.argv[1])
for i in range(60):
    done = Completion(texts=[f"{sys.argv[2]}:{i}"], usage=Usage(), model_id="m")
    assert cache.put_sync(f"{sys.argv[2]}-{i}", done)
    assert cache.get_sync(f"{sys.argv[2]}-{i}") is not None
"""


def test_several_processes_write_one_cache_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"p{n}"], stderr=subprocess.PIPE)
        for n in range(3)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    cache = ResponseCache(path)
    assert len(cache) == 3 * 60
    got = cache.get_sync("p2-59")
    assert got is not None and got.text == "p2:59"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def hold_lock(path: Path, how: str = "IMMEDIATE") -> sqlite3.Connection:
    """Another writer: a connection holding ``BEGIN <how>`` on ``path`` until closed."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute(f"BEGIN {how}")
    return other


@pytest.mark.parametrize("how", ["IMMEDIATE", "EXCLUSIVE"])
def test_a_file_locked_by_another_writer_at_open_says_locked(tmp_path: Path, how: str) -> None:
    path = tmp_path / "c.sqlite"
    seed = sqlite3.connect(path)  # a healthy cache in rollback-journal mode, as a writer left it
    seed.execute(
        "CREATE TABLE responses (key TEXT PRIMARY KEY, model_id TEXT NOT NULL, "
        "payload TEXT NOT NULL, created_at REAL NOT NULL)"
    )
    seed.commit()
    seed.close()
    other = hold_lock(path, how)
    try:
        with pytest.raises(CacheError, match="locked by another process") as info:
            ResponseCache(path, busy_timeout=0.05).open()
        message = str(info.value)
        assert "retry" in message and "not a usable" not in message and "move it" not in message
    finally:
        other.close()
    cache = ResponseCache(path, busy_timeout=0.05)  # the lock is gone: the file is fine
    assert cache.put_sync("k", completion("after"))
    got = cache.get_sync("k")
    assert got is not None and got.text == "after"
    cache.close()


async def test_a_locked_write_warns_once_and_emits_an_event(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "c.sqlite"
    events: list[CacheEvent] = []
    engine = Engine(
        ScriptedChatModel(default="paid for"),
        cache=ResponseCache(path, busy_timeout=0.05),
        listeners=[lambda e: events.append(e) if isinstance(e, CacheEvent) else None],
    )
    await engine.complete("warm up")  # opens the file (WAL)
    assert engine.cache is not None and events == []
    other = hold_lock(path)
    try:
        with caplog.at_level(logging.INFO, logger="apo_core"):
            first = await engine.complete("new one")
            second = await engine.complete("new two")
    finally:
        other.close()
    assert (first.text, second.text) == ("paid for", "paid for")
    assert engine.cache.stats.write_errors == 2
    assert [(e.kind, e.role, e.model_id, e.path) for e in events] == [
        ("cache_write_failed", "task", "scripted", str(path))
    ] * 2
    assert events[0].error is not None and "locked" in events[0].error
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "locked" in warnings[0].getMessage()
    assert str(path) in warnings[0].getMessage()
    assert "new one" not in caplog.text  # no request contents in the log
    engine.close()
    replay = Engine(ScriptedChatModel(default="never"), cache=path)
    assert (await replay.complete("warm up")).cached
    assert not (await replay.complete("new one")).cached  # its replay was lost, visibly
    replay.close()
