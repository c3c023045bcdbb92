"""complete_samples: the one n-samples -> Completion path every one-sample-per-call backend uses."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel

from apo_core.models.base import Sample, complete_samples
from apo_core.types import Usage


class Answer(BaseModel):
    value: int


async def test_samples_are_made_concurrently_in_order_and_assembled() -> None:
    started: list[int] = []
    release, all_started = asyncio.Event(), asyncio.Event()

    async def one(i: int) -> Sample:
        started.append(i)
        if len(started) == 3:
            all_started.set()
        await release.wait()
        return Sample(f'{{"value": {i}}}', Usage(input_tokens=10, output_tokens=i))

    task = asyncio.create_task(
        complete_samples(3, one, model_id="m", response_format=Answer, usage=Usage(input_tokens=1))
    )
    await asyncio.wait_for(all_started.wait(), 5)  # all three in flight before any finishes
    release.set()
    done = await task
    assert started == [0, 1, 2]
    assert done.texts == ['{"value": 0}', '{"value": 1}', '{"value": 2}']
    assert done.parsed == [Answer(value=0), Answer(value=1), Answer(value=2)]
    assert done.usage == Usage(input_tokens=31, output_tokens=3)
    assert done.model_id == "m" and not done.cached


async def test_a_native_parse_wins_and_no_schema_means_no_parsed() -> None:
    async def one(i: int) -> Sample:
        return Sample("not json", parsed=Answer(value=7) if i == 0 else None)

    done = await complete_samples(2, one, model_id="m", response_format=Answer)
    assert done.parsed == [Answer(value=7), None]
    plain = await complete_samples(2, one, model_id="m")
    assert plain.parsed is None and plain.texts == ["not json", "not json"]


async def test_the_first_failure_cancels_the_other_samples() -> None:
    cancelled: list[int] = []

    async def one(i: int) -> Sample:
        if i == 1:
            raise RuntimeError("sample 1 failed")
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(i)
            raise
        return Sample("never")

    with pytest.raises(RuntimeError, match="sample 1 failed"):
        await complete_samples(3, one, model_id="m")
    await asyncio.sleep(0)
    assert sorted(cancelled) == [0, 2]
