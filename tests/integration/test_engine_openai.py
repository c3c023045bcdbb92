"""OpenAIChatModel through the Engine against FakeOpenAIServer: real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from apo_core import (
    Engine,
    LoggingListener,
    Message,
    ModelCallError,
    ModelLimits,
    OpenAIChatModel,
    RetriesExhausted,
)
from apo_core.models import count_message_tokens
from apo_core.testing import FakeOpenAIServer, Fault, RecordingSleep

pytestmark = pytest.mark.integration

SENTINEL = "sk-SENTINEL-4f1c9a7e-do-not-leak"


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


def make_engine(
    server: FakeOpenAIServer, **kwargs: object
) -> tuple[Engine, OpenAIChatModel, RecordingSleep]:
    model = OpenAIChatModel(
        "fake-model", base_url=server.base_url, api_key=str(kwargs.pop("api_key", "sk-test-key"))
    )
    sleep = RecordingSleep()
    engine = Engine(model, sleep=sleep, seed=0, **kwargs)  # type: ignore[arg-type]
    return engine, model, sleep


async def test_429_with_retry_after_then_success(server: FakeOpenAIServer) -> None:
    server.add_faults(Fault(status=429, retry_after=3.0))
    engine, _, sleep = make_engine(server)
    result = await engine.complete("hello there")
    assert result.text == "hello there"
    assert server.request_count == 2
    assert len(sleep.delays) == 1 and sleep.delays[0] >= 3.0
    line = engine.usage().total
    assert (line.calls, line.attempts, line.retries) == (1, 2, 1)
    assert line.input_tokens > 0 and line.output_tokens == 2


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=500),
        Fault(status=503),
        Fault(malformed=True),
        Fault(empty_choices=True),
        Fault(truncated=True),
    ],
    ids=["500", "503", "malformed", "empty-choices", "truncated"],
)
async def test_transient_faults_are_retried(server: FakeOpenAIServer, fault: Fault) -> None:
    server.add_faults(fault)
    engine, _, sleep = make_engine(server)
    result = await engine.complete("try again")
    assert result.text == "try again"
    assert server.request_count == 2 and len(sleep.delays) == 1
    assert engine.usage().total.retries == 1


async def test_a_slow_reply_times_out_and_is_retried(server: FakeOpenAIServer) -> None:
    server.add_faults(Fault(delay=30.0))
    engine, _, sleep = make_engine(server, timeout=1.5)  # room for a loaded machine
    start = time.monotonic()
    result = await engine.complete("patience")
    assert result.text == "patience"
    assert 1.5 <= time.monotonic() - start < 15
    assert server.request_count == 2 and len(sleep.delays) == 1


async def test_persistent_faults_exhaust_the_attempts(server: FakeOpenAIServer) -> None:
    server.add_faults(*[Fault(status=503)] * 3)
    engine, _, sleep = make_engine(server, max_attempts=3)
    with pytest.raises(RetriesExhausted) as info:
        await engine.complete("q")
    assert info.value.attempts == 3 and info.value.status_code == 503
    assert server.request_count == 3 and len(sleep.delays) == 2


@pytest.mark.parametrize("status", [401, 400])
async def test_auth_and_bad_request_fail_at_once_without_the_key(
    server: FakeOpenAIServer, status: int
) -> None:
    server.add_faults(Fault(status=status, message="Incorrect API key provided"))
    engine, _, sleep = make_engine(server, api_key=SENTINEL)
    with pytest.raises(ModelCallError) as info:
        await engine.complete("q")
    assert not isinstance(info.value, RetriesExhausted)
    assert info.value.status_code == status
    assert server.request_count == 1 and sleep.delays == []
    text = f"{info.value!s} {info.value!r} {info.value.__cause__!s} {info.value.__context__!s}"
    assert SENTINEL not in text
    if status == 401:
        assert "check the API key" in str(info.value)


async def test_an_exhausted_quota_429_fails_at_once(server: FakeOpenAIServer) -> None:
    server.add_faults(
        Fault(status=429, code="insufficient_quota", message="You exceeded your current quota")
    )
    engine, _, sleep = make_engine(server)
    with pytest.raises(ModelCallError, match="out of quota") as info:
        await engine.complete("q")
    assert not isinstance(info.value, RetriesExhausted) and info.value.status_code == 429
    assert server.request_count == 1 and sleep.delays == []


async def test_cache_replay_makes_no_http_request(server: FakeOpenAIServer, tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    engine, _, _ = make_engine(server, cache=path)
    first = await engine.complete("cache me", temperature=0.8, seed=1)
    engine.close()
    assert server.request_count == 1
    server.reset()
    replay_engine, _, _ = make_engine(server, cache=path)
    replay = await replay_engine.complete("cache me", temperature=0.8, seed=1)
    replay_engine.close()
    assert replay.cached and replay.texts == first.texts
    assert server.request_count == 0
    assert replay_engine.usage().total.cache_hits == 1


async def test_n_choices_in_one_request(server: FakeOpenAIServer) -> None:
    engine, _, _ = make_engine(server)
    result = await engine.complete("sample", n=3, temperature=1.0, seed=5)
    assert result.texts == ["sample"] * 3
    assert server.request_count == 1
    body = server.requests[0]
    assert (body["n"], body["seed"], body["temperature"]) == (3, 5, 1.0)


async def test_a_server_ignoring_n_still_yields_n_texts() -> None:
    counter = iter(range(100))
    with FakeOpenAIServer(lambda body: f"text {next(counter)}", ignore_n=True) as server:
        engine, _, _ = make_engine(server)
        result = await engine.complete("sample", n=3, seed=10, max_tokens=20)
        assert result.texts == ["text 0", "text 1", "text 2"]
        bodies = server.requests
        assert [b["n"] for b in bodies] == [3, 1, 1]
        assert [b["seed"] for b in bodies] == [10, 11, 12]  # a seed per extra sample
        assert all(b["max_tokens"] == 20 for b in bodies)
        assert result.usage.output_tokens == 6


class Verdict(BaseModel):
    label: str
    confidence: float


def json_responder(body: dict[str, object]) -> str:
    return json.dumps({"label": "lie", "confidence": 0.75})


@pytest.mark.parametrize(
    ("rejected", "expected_mode"),
    [
        ((), "json_schema"),
        (("json_schema",), "json_object"),
        (("json_schema", "json_object"), "text"),
    ],
)
async def test_structured_output_auto_falls_back(
    rejected: tuple[str, ...], expected_mode: str
) -> None:
    with FakeOpenAIServer(json_responder, reject_response_formats=rejected) as server:
        engine, model, _ = make_engine(server)
        result = await engine.complete("judge: the sky is green", response_format=Verdict)
        assert result.parsed == [Verdict(label="lie", confidence=0.75)]
        assert model.structured == expected_mode
        formats = [(b.get("response_format") or {}).get("type") for b in server.requests]
        assert formats == ["json_schema", "json_object", None][: len(rejected) + 1]
        if expected_mode == "text":
            assert "JSON schema" in server.requests[-1]["messages"][0]["content"]
        server.reset()
        await engine.complete("judge: water is wet", response_format=Verdict)
        assert server.request_count == 1  # the accepted mode is remembered


def cache_bytes(folder: Path) -> bytes:
    """Everything the cache wrote: the database and any WAL/shm files."""
    return b"".join(f.read_bytes() for f in folder.iterdir() if f.name.startswith("cache"))


async def test_the_api_key_never_reaches_cache_logs_or_errors(
    server: FakeOpenAIServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "cache.sqlite"
    server.add_faults(Fault(status=500), Fault(malformed=True), Fault(status=429, retry_after=0))
    engine, model, _ = make_engine(
        server, api_key=SENTINEL, cache=path, listeners=[LoggingListener()]
    )
    errors: list[str] = []
    with caplog.at_level(logging.DEBUG):
        await engine.complete("first")
        await engine.complete("first")  # cache hit
        server.add_faults(Fault(status=401), Fault(status=404), Fault(truncated=True))
        for prompt in ("second", "third"):
            try:
                await engine.complete(prompt)
            except ModelCallError as exc:
                errors.append(f"{exc!s} {exc!r}")
        await engine.complete("fourth")  # truncated, then retried
    engine.close()
    assert len(errors) == 2 and len(caplog.records) > 5
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert SENTINEL not in logged
    assert all(SENTINEL not in e for e in errors)
    stored = cache_bytes(tmp_path)
    assert b"first" in stored and SENTINEL.encode() not in stored
    assert SENTINEL not in json.dumps(server.requests)
    assert SENTINEL not in f"{model!r} {model.cache_identity}"


async def test_concurrent_calls_over_http(server: FakeOpenAIServer) -> None:
    engine, _, _ = make_engine(server, max_concurrency=4)
    results = await asyncio.gather(*(engine.complete(f"prompt {i}") for i in range(12)))
    assert [r.text for r in results] == [f"prompt {i}" for i in range(12)]
    assert server.request_count == 12 and server.max_in_flight <= 4


def get_json(url: str, body: Mapping[str, object] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_fake_server_legacy_completions_and_models(server: FakeOpenAIServer) -> None:
    status, models = get_json(f"{server.base_url}/models")
    assert status == 200 and models["data"] == [
        {"id": "fake-model", "object": "model", "created": 0, "owned_by": "fake"}
    ]
    status, reply = get_json(f"{server.base_url}/completions", {"model": "m", "prompt": "go on"})
    assert status == 200 and reply["object"] == "text_completion"
    assert reply["choices"] == [
        {"index": 0, "finish_reason": "stop", "logprobs": None, "text": "go on"}
    ]
    assert reply["usage"] == {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}
    status, error = get_json(f"{server.base_url}/nothing", {})
    assert status == 404 and "error" in error
    assert server.counts == {"models": 1, "completions": 1, "ok": 1}


def test_fake_server_rpm_limit_answers_429_with_retry_after() -> None:
    with FakeOpenAIServer(rpm=2) as server:
        url = f"{server.base_url}/chat/completions"
        body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
        assert [get_json(url, body)[0] for _ in range(3)] == [200, 200, 429]
        assert server.counts["rate_limited"] == 1
    with FakeOpenAIServer(rpm=120, window_s=0.5) as server:  # 1 request per 0.5 s window
        url = f"{server.base_url}/chat/completions"
        assert [get_json(url, body)[0] for _ in range(2)] == [200, 429]
        time.sleep(0.5)
        assert get_json(url, body)[0] == 200
    with pytest.raises(ValueError, match="window_s"):
        FakeOpenAIServer(window_s=0)


def test_fake_server_random_faults_are_seeded_and_latency_applies() -> None:
    def statuses(seed: int) -> list[int]:
        with FakeOpenAIServer(fault_rate=0.5, seed=seed, random_faults=[Fault(status=500)]) as s:
            url = f"{s.base_url}/chat/completions"
            body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
            return [get_json(url, body)[0] for _ in range(20)]

    first = statuses(7)
    assert first == statuses(7) and 0 < first.count(500) < 20
    with FakeOpenAIServer(latency_s=0.2, latency_per_token_s=0.05) as server:
        start = time.monotonic()
        get_json(f"{server.base_url}/completions", {"model": "m", "prompt": "a b c d"})
        assert time.monotonic() - start >= 0.4  # 0.2 s + 4 tokens x 0.05 s


async def test_a_failing_responder_is_a_500_that_the_engine_retries() -> None:
    calls = iter(range(10))

    def flaky(body: dict[str, Any]) -> str:
        if next(calls) == 0:
            raise RuntimeError("responder bug")
        return "recovered"

    with FakeOpenAIServer(flaky) as server:
        engine, _, sleep = make_engine(server)
        assert (await engine.complete("q")).text == "recovered"
        assert server.counts["responder_errors"] == 1 and len(sleep.delays) == 1


# -- the engine's RPM/TPM limits against a rate-limited server ------------------------------
# The server enforces its quota over a 1.5 s sliding window, pro rata, so the engine's leaky
# bucket (a burst of its per-minute quota, then quota/60 per second) can be checked in ~2 s.
# The engine admits 60 calls at once, then one per second: 62 calls take 2 s and no 1.5 s window
# sees more than 61 of them; without the engine's limits the 62 arrive in a burst.

WINDOW_S = 1.5
CALLS = 62


def limit_prompts() -> list[str]:
    return [f"limit {i:02d}" for i in range(CALLS)]


async def run_calls(engine: Engine) -> list[Any]:
    return await asyncio.gather(
        *(engine.complete(p, max_tokens=4) for p in limit_prompts()), return_exceptions=True
    )


@pytest.mark.parametrize("engine_limited", [False, True], ids=["no-engine-limit", "engine-rpm"])
async def test_engine_rpm_limit_keeps_a_rate_limited_server_from_429(
    engine_limited: bool,
) -> None:
    per_window = CALLS - 1  # the server takes 61 requests per 1.5 s window
    with FakeOpenAIServer(rpm=per_window * 60 / WINDOW_S, window_s=WINDOW_S) as server:
        limits = {"fake-model": ModelLimits(rpm=60)} if engine_limited else {}
        engine, _, _ = make_engine(server, limits=limits, max_attempts=1)
        start = time.monotonic()
        results = await run_calls(engine)
        elapsed = time.monotonic() - start
    failures = [r for r in results if isinstance(r, BaseException)]
    if not engine_limited:  # the failure the engine's limit prevents
        assert server.counts.get("rate_limited", 0) >= 1 and failures
        assert all(getattr(f, "status_code", None) == 429 for f in failures)
        return
    assert failures == [] and server.counts.get("rate_limited", 0) == 0
    assert server.counts["ok"] == CALLS
    assert 1.9 <= elapsed < 10  # two calls waited for the bucket: 1 s each


@pytest.mark.parametrize("engine_limited", [False, True], ids=["no-engine-limit", "engine-tpm"])
async def test_engine_tpm_limit_keeps_a_rate_limited_server_from_429(
    engine_limited: bool,
) -> None:
    estimates = {count_message_tokens([Message(role="user", content=p)]) for p in limit_prompts()}
    assert len(estimates) == 1
    charged = estimates.pop() + 4  # what the engine charges a call: input estimate + max_tokens
    with FakeOpenAIServer(window_s=WINDOW_S) as probe:
        engine, _, _ = make_engine(probe)
        billed = (await engine.complete("limit 00", max_tokens=4)).usage.total_tokens
    # The server refuses a request once the window's answers used 60.5 calls' worth of tokens.
    tokens_per_window = 60.5 * billed
    with FakeOpenAIServer(tpm=tokens_per_window * 60 / WINDOW_S, window_s=WINDOW_S) as server:
        limits = {"fake-model": ModelLimits(tpm=60 * charged)} if engine_limited else {}
        # One call at a time: each arrives after the previous answer was counted.
        engine, _, _ = make_engine(server, limits=limits, max_attempts=1, max_concurrency=1)
        start = time.monotonic()
        results = await run_calls(engine)
        elapsed = time.monotonic() - start
    failures = [r for r in results if isinstance(r, BaseException)]
    if not engine_limited:
        assert server.counts.get("rate_limited", 0) >= 1 and failures
        return
    assert failures == [] and server.counts.get("rate_limited", 0) == 0
    assert 1.9 <= elapsed < 10
