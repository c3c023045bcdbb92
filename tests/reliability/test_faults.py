"""Fault injection through a real local server: 20% of calls fail, the result does not change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from reliability_world import (
    CONFIG,
    PROMPT,
    http_engine,
    label_metric,
    make_examples,
    outcome,
    responder,
)

from apo_core import Backoff
from apo_core.apo import APO, APOResult
from apo_core.testing import FakeOpenAIServer, Fault, RecordingSleep

pytestmark = pytest.mark.integration

TIMEOUT_S = 0.4
FAULTS = (
    Fault(status=429, retry_after=2.0),
    Fault(status=500),
    Fault(status=503),
    Fault(delay=TIMEOUT_S * 2, status=504),  # the client times out first
    Fault(truncated=True),
    Fault(malformed=True),
    Fault(empty_choices=True),
)
TRAIN, VALIDATION, TEST = make_examples("train", 24), make_examples("val", 8), make_examples("t", 6)


async def run(server: FakeOpenAIServer, cache: Path) -> tuple[APOResult, Any, RecordingSleep]:
    sleep = RecordingSleep()  # backoff and Retry-After waits are recorded, not slept
    engine = http_engine(
        server.base_url,
        cache=cache,
        max_concurrency=8,
        timeout=TIMEOUT_S,
        max_attempts=12,
        backoff=Backoff(initial_s=0.01, max_s=0.1),
        sleep=sleep,
        seed=1,
    )
    with engine:
        result = await APO(engine, CONFIG).optimize(
            PROMPT, train=TRAIN, validation=VALIDATION, test=TEST, metric=label_metric
        )
    return result, engine.usage(), sleep


def canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True)


async def test_twenty_percent_faults_change_nothing_and_nothing_is_paid_twice(
    tmp_path: Path,
) -> None:
    with FakeOpenAIServer(responder) as clean_server:
        clean, clean_usage, _ = await run(clean_server, tmp_path / "clean.sqlite")
    with FakeOpenAIServer(responder, fault_rate=0.2, random_faults=FAULTS, seed=3) as server:
        faulty, usage, sleep = await run(server, tmp_path / "faulty.sqlite")
        answered = server.answered
        counts = server.counts

    assert outcome(faulty) == outcome(clean)
    assert faulty.stopped_by == "rounds" and faulty.improved
    # Faults really happened, of several kinds, and were retried.
    assert counts["faults"] >= 0.1 * counts["chat"], counts
    assert usage.total.retries >= counts["faults"] and usage.total.failures == 0
    assert any(d >= 2.0 for d in sleep.delays)  # Retry-After was honoured
    # No call paid twice: every answer the server gave is one ledger call, each distinct.
    assert len(answered) == usage.total.calls == clean_usage.total.calls
    assert len({canonical(b) for b in answered}) == len(answered)
    for rnd in faulty.history:
        assert rnd.counts.failed_calls == 0 and rnd.counts.parse_failures == 0


async def test_rerun_after_faults_is_free(tmp_path: Path) -> None:
    """A second run on the faulty run's cache sends nothing at all."""
    cache = tmp_path / "cache.sqlite"
    with FakeOpenAIServer(responder, fault_rate=0.2, random_faults=FAULTS, seed=4) as server:
        first, _, _ = await run(server, cache)
        sent = server.request_count
        second, usage, _ = await run(server, cache)
        assert server.request_count == sent
    assert usage.total.calls == 0 and usage.total.cache_hits > 0
    assert outcome(second) == outcome(first)
