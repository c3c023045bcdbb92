"""BPORewriter: black-box prompt optimization as a rewrite step.

Each round asks the ``rewriter`` role (through the engine: cache, budget, retries, usage) for
one sample (stable mode) or five (aggressive mode) rewrites of the current prompt, either from
the released THUDM/BPO model with its exact template (``source="bpo_model"``, best served by an
:class:`~apo_core.models.OpenAICompletionModel`) or from any chat model with
a BPO-style meta-prompt (``source="meta_prompt"``; with the engine's default model this is the
embedded SmolLM2). Protected spans (``[[...]]`` or a list) lose their markers before any model
sees the prompt and are verified verbatim afterwards (:mod:`apo_core.bpo.protect`). Candidates
are post-processed, checked by the :class:`Guard` against the original prompt, and one is
chosen. A prompt whose first round yields nothing usable keeps the
original, with the reason recorded, counted in :attr:`BPORewriter.stats` and emitted as a
``bpo_fallback`` event.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from typing import Literal

from apo_core.bpo.guard import (
    Guard,
    Reason,
    Rejection,
    preservation,
    token_count,
    word_count,
)
from apo_core.bpo.postprocess import apply_mode, from_bpo_model, from_meta_prompt
from apo_core.bpo.protect import DEFAULT_MARKERS, ProtectedPrompt, protect
from apo_core.bpo.result import BPOResult, BPORound, BPOStats
from apo_core.bpo.templates import (
    BAD_WORDS,
    META_EXAMPLES,
    META_STOP,
    META_SYSTEM,
    MODES,
    Mode,
    Source,
    bpo_prompt,
    meta_prompt_messages,
)
from apo_core.engine import Engine, RunEvent
from apo_core.errors import BudgetExceeded, ConfigError, ModelCallError
from apo_core.models import ChatModel, OpenAICompletionModel
from apo_core.sync import run_sync
from apo_core.types import Message

Chooser = Callable[[str, Sequence[str]], int]
"""``choose(original, valid_candidates) -> index`` picks among candidates that passed."""

PRESERVATION_SLACK = 0.1
OUTPUT_TOKENS_PER_WORD = 2
OUTPUT_TOKEN_SLACK = 32
"""The automatic output cap: ``2 x`` the guard's word limit ``+ 32`` tokens (tags, preamble)."""
BPO_MAX_INPUT_TOKENS = 512
"""THUDM/BPO's input limit (the paper trains and infers on prompts up to 512 tokens)."""


def choose_candidate(original: str, candidates: Sequence[str]) -> int:
    """Default choice: among the samples that keep nearly the most of the original's words
    (within :data:`PRESERVATION_SLACK` of the best :func:`~apo_core.bpo.guard.preservation`),
    the one that elaborates the most (most words); ties go to the earlier sample.
    """
    if not candidates:
        raise ConfigError("choose_candidate needs at least one candidate")
    kept = [preservation(original, c) for c in candidates]
    near_best = [i for i, k in enumerate(kept) if k >= max(kept) - PRESERVATION_SLACK]
    return max(near_best, key=lambda i: (word_count(candidates[i]), -i))


class BPORewriter:
    """Rewrites prompts the BPO way, with guard, protection, iteration and caching.

    Args:
        engine: the engine; its ``rewriter`` role model does the rewriting. Default: a new
            :class:`~apo_core.Engine` whose model is the embedded SmolLM2.
        source: ``"meta_prompt"`` (any chat model) or ``"bpo_model"`` (THUDM/BPO's template).
        mode: ``"stable"`` (1 sample, temperature 0.6, top_p 0.9) or ``"aggressive"`` (5 samples
            at 0.9, each at least 5 tokens (words and punctuation marks) longer than its
            input, first line only, banned markers cut; the best valid sample by
            :func:`choose_candidate` or ``choose``).
        rounds: rewrite the rewrite this many times (the paper's gains peak near 4).
        protected: spans every rewrite must keep verbatim (used where they occur).
        model: a model to use instead of the engine's rewriter role model.
        guard: the checks a rewrite must pass; default :class:`Guard` ``()`` (6x growth).
        markers: inline protection markers, default ``("[[", "]]")``; ``None`` turns them off.
        max_tokens: the output cap per sample; default the mode's 1024, lowered to what the
            guard could accept (:data:`OUTPUT_TOKENS_PER_WORD` tokens per allowed word plus
            :data:`OUTPUT_TOKEN_SLACK`): a longer reply would be rejected as too long anyway.
        max_input_tokens: prompts longer than this (words and punctuation marks) keep the
            original without a call (reason ``input_too_long``); default 512 for
            ``"bpo_model"`` (the released model's input limit), no limit for ``"meta_prompt"``.
        seed: sampling seed sent to the model (reproducible servers and the embedded model).
        on_error: ``"fallback"`` keeps the original when a call fails or the budget is spent
            (reasons ``model_error``/``budget``); ``"raise"`` propagates the error.
        choose: a custom choice rule among valid candidates.
        meta_system: the meta-prompt's system message (``source="meta_prompt"``).
        meta_examples: worked (prompt, improved prompt) examples shown before the prompt
            (``source="meta_prompt"``); ``()`` sends none.
        server_constraints: in aggressive mode, send the release's decoding constraints to an
            :class:`~apo_core.models.OpenAICompletionModel` as vLLM's
            ``min_tokens`` (the growth) and ``bad_words`` (the banned markers) in
            ``extra_body``; turn off for servers that reject unknown fields.

    Requests stop where the output is complete: meta-prompt replies at ``</prompt>``,
    aggressive THUDM/BPO samples at the first newline (the release's end-of-line stop).
    """

    def __init__(
        self,
        engine: Engine | None = None,
        *,
        source: Source = "meta_prompt",
        mode: Mode = "stable",
        rounds: int = 1,
        protected: Iterable[str] = (),
        model: ChatModel | None = None,
        guard: Guard | None = None,
        markers: tuple[str, str] | None = DEFAULT_MARKERS,
        max_tokens: int | None = None,
        max_input_tokens: int | Literal["auto"] | None = "auto",
        seed: int | None = None,
        on_error: Literal["fallback", "raise"] = "fallback",
        choose: Chooser | None = None,
        meta_system: str = META_SYSTEM,
        meta_examples: Sequence[tuple[str, str]] = META_EXAMPLES,
        server_constraints: bool = True,
    ) -> None:
        if source not in ("meta_prompt", "bpo_model"):
            raise ConfigError(f"unknown BPO source {source!r}: use 'meta_prompt' or 'bpo_model'")
        if mode not in MODES:
            raise ConfigError(f"unknown BPO mode {mode!r}: use 'stable' or 'aggressive'")
        if rounds < 1:
            raise ConfigError("rounds must be at least 1")
        if on_error not in ("fallback", "raise"):
            raise ConfigError("on_error must be 'fallback' or 'raise'")
        self.engine = engine if engine is not None else Engine()
        self.source: Source = source
        self.mode: Mode = mode
        self.settings = MODES[mode]
        self.max_tokens = max_tokens
        if max_tokens is not None:
            self.settings = self.settings.model_copy(update={"max_tokens": max_tokens})
        self.rounds = rounds
        self.protected = tuple(protected)
        self.model = model
        self.guard = guard or Guard(markers=markers)
        self.markers = markers
        self.seed = seed
        self.max_input_tokens = (
            (BPO_MAX_INPUT_TOKENS if source == "bpo_model" else None)
            if max_input_tokens == "auto"
            else max_input_tokens
        )
        self.on_error = on_error
        self.choose: Chooser = choose or choose_candidate
        self.meta_system = meta_system
        self.meta_examples = tuple(meta_examples)
        self.server_constraints = server_constraints
        self.stats = BPOStats()

    def __repr__(self) -> str:
        return f"BPORewriter(source={self.source!r}, mode={self.mode!r}, rounds={self.rounds})"

    # -- one round ------------------------------------------------------------------------

    def messages(self, prompt: str, protected: Sequence[str] = ()) -> list[Message]:
        """The request for one rewrite of ``prompt`` (markers already removed)."""
        if self.source == "bpo_model":
            return [Message(role="user", content=bpo_prompt(prompt))]
        return meta_prompt_messages(
            prompt, protected, system=self.meta_system, examples=self.meta_examples
        )

    def _extract(self, text: str) -> str:
        raw = from_bpo_model(text) if self.source == "bpo_model" else from_meta_prompt(text)
        return apply_mode(raw, self.settings)

    def _reject(
        self, original: ProtectedPrompt, current: str, candidate: str, finish: str | None
    ) -> Rejection | None:
        growth = self.settings.min_growth_tokens
        if candidate.strip() and growth:
            need = token_count(current) + growth
            if token_count(candidate) < need:
                return Rejection(
                    reason="too_short",
                    detail=f"the sample is not {growth} tokens longer than its input",
                )
        return self.guard.check(original.text, candidate, original.spans, finish_reason=finish)

    def max_output_tokens(self, original: str) -> int:
        """The output cap of a request rewriting ``original`` (see ``max_tokens``)."""
        if self.max_tokens is not None:
            return self.max_tokens
        fits = OUTPUT_TOKENS_PER_WORD * self.guard.max_words(original) + OUTPUT_TOKEN_SLACK
        return min(self.settings.max_tokens, fits)

    def stop_sequences(self) -> list[str]:
        """Where generation may stop: after ``</prompt>``, or at an aggressive sample's newline.

        Chat replies to the meta-prompt may put the rewrite on a later line (after a chatty
        opener), so they are cut at their first line only after extraction.
        """
        if self.source == "meta_prompt":
            return [META_STOP]
        return ["\n"] if self.settings.cut_at_newline else []

    def _model_for(self, current: str) -> ChatModel | None:
        """The rewriting model, with vLLM's decoding constraints when the mode asks for them."""
        model = self.model or self.engine.model_for("rewriter")
        s = self.settings
        wants = s.min_growth_tokens or s.cut_banned_markers
        if not (self.server_constraints and wants and isinstance(model, OpenAICompletionModel)):
            return self.model
        extra: dict[str, object] = {}
        if s.min_growth_tokens:
            extra["min_tokens"] = token_count(current) + s.min_growth_tokens
        if s.cut_banned_markers:
            extra["bad_words"] = list(BAD_WORDS)
        constrained = copy.copy(model)  # shares the client; the request gets the extra fields
        constrained.extra_body = {**model.extra_body, **extra}
        return constrained

    async def _round(self, original: ProtectedPrompt, current: str) -> BPORound:
        s = self.settings
        completion = await self.engine.complete(
            self.messages(current, original.spans),
            role="rewriter",
            temperature=s.temperature,
            top_p=s.top_p,
            max_tokens=self.max_output_tokens(original.text),
            n=s.samples,
            stop=self.stop_sequences(),
            seed=self.seed,
            model=self._model_for(current),
        )
        texts = completion.texts or [""]
        candidates = [self._extract(t) for t in texts]
        # A cut sample is whole if post-processing kept only its complete first line.
        cut_line = s.cut_at_newline
        finishes = [
            None if cut_line and "\n" in t.strip() else completion.finish_reason for t in texts
        ]
        rejections = [
            self._reject(original, current, c, f) for c, f in zip(candidates, finishes, strict=True)
        ]
        step = BPORound(
            input=current,
            candidates=candidates,
            rejections=[r.reason if r else None for r in rejections],
        )
        valid = [i for i, r in enumerate(rejections) if r is None]
        if valid:
            pick = self.choose(original.text, [candidates[i] for i in valid])
            step.chosen = valid[pick]
            return step
        reasons = [r for r in rejections if r is not None]
        codes = [r.reason for r in reasons]
        top = max(codes, key=codes.count)  # the most common reason, first seen on ties
        step.reason = top
        step.detail = next(r.detail for r in reasons if r.reason == top)
        if len(reasons) > 1:
            step.detail += f" ({codes.count(top)} of {len(reasons)} samples: {', '.join(codes)})"
        return step

    # -- one prompt -----------------------------------------------------------------------

    async def _rounds(self, original: ProtectedPrompt, history: list[BPORound]) -> str:
        """Run the rounds, appending each to ``history``; return the last accepted text."""
        current = original.text
        for _ in range(self.rounds):
            try:
                step = await self._round(original, current)
            except (BudgetExceeded, ModelCallError) as exc:
                if self.on_error == "raise":
                    raise
                reason: Reason = "budget" if isinstance(exc, BudgetExceeded) else "model_error"
                step = BPORound(input=current, reason=reason, detail=str(exc))
            history.append(step)
            if step.chosen is None:
                break
            current = step.candidates[step.chosen]
        return current

    async def arewrite(self, prompt: str, protected: Sequence[str] | None = None) -> BPOResult:
        """Rewrite one prompt (``[[...]]`` marks protected spans; ``protected`` adds more)."""
        original = protect(prompt, [*self.protected, *(protected or ())], markers=self.markers)
        current = original.text
        history: list[BPORound] = []
        size = token_count(current)
        if self.max_input_tokens is not None and size > self.max_input_tokens:
            detail = f"the prompt has {size} tokens, over the limit of {self.max_input_tokens}"
            history.append(BPORound(input=current, reason="input_too_long", detail=detail))
        else:
            current = await self._rounds(original, history)
        done = sum(1 for step in history if step.chosen is not None)
        first = history[0]
        result = BPOResult(
            original=original.text,
            rewritten=current,
            source=self.source,
            mode=self.mode,
            rounds=self.rounds,
            rounds_done=done,
            candidates=[c for step in history for c in step.candidates],
            protected=list(original.spans),
            fallback=first.reason if done == 0 else None,
            fallback_detail=first.detail if done == 0 else None,
            history=history,
        )
        self.stats.add(result)
        self._emit(result)
        return result

    def _emit(self, result: BPOResult) -> None:
        data: dict[str, object] = {
            "source": result.source,
            "mode": result.mode,
            "rounds_done": result.rounds_done,
            "changed": result.changed,
        }
        if result.fallback is not None:
            data |= {"reason": result.fallback, "detail": result.fallback_detail}
            self.engine.events.emit(RunEvent(kind="bpo_fallback", data=data))
        else:
            self.engine.events.emit(RunEvent(kind="bpo_rewritten", data=data))

    # -- many prompts ---------------------------------------------------------------------

    async def arewrite_batch(
        self, prompts: Sequence[str], protected: Sequence[str] | None = None
    ) -> list[BPOResult]:
        """Rewrite many prompts concurrently (the engine bounds concurrency); input order."""
        return list(await asyncio.gather(*(self.arewrite(p, protected) for p in prompts)))

    async def arewrite_stream(
        self, prompts: Sequence[str], protected: Sequence[str] | None = None
    ) -> AsyncGenerator[tuple[int, BPOResult], None]:
        """Yield ``(index, result)`` as each rewrite completes; leaving early cancels the rest."""

        async def one(i: int, prompt: str) -> tuple[int, BPOResult]:
            return i, await self.arewrite(prompt, protected)

        tasks = [asyncio.ensure_future(one(i, p)) for i, p in enumerate(prompts)]
        try:
            for next_done in asyncio.as_completed(tasks):
                yield await next_done
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def rewrite(self, prompt: str, protected: Sequence[str] | None = None) -> BPOResult:
        """Blocking :meth:`arewrite`, usable inside or outside a running event loop."""
        return run_sync(self.arewrite(prompt, protected))

    def rewrite_batch(
        self, prompts: Sequence[str], protected: Sequence[str] | None = None
    ) -> list[BPOResult]:
        """Blocking :meth:`arewrite_batch`."""
        return run_sync(self.arewrite_batch(prompts, protected))
