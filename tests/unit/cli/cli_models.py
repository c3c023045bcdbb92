"""Scripted models for CLI tests, loaded through the ``python:cli_models:NAME`` model spec.

The task model answers example ``i`` right only when ``i % 5`` is below the number of times
the prompt says CAREFUL; the optimizer's edits add CAREFUL, so APO can really improve.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path

from pydantic import BaseModel

from apo_core import ScriptedChatModel, ScriptedRequest
from apo_core.models.base import ModelIdentity
from apo_core.types import Completion, CompletionParams, Message

CALLS: list[str] = []


def _task(request: ScriptedRequest) -> str:
    CALLS.append("task")
    text = request.last_user
    match = re.search(r"item (\d+) was (good|bad)", text)
    if match is None:
        return "positive"
    if int(match.group(1)) % 5 < text.count("CAREFUL"):
        return "positive" if match.group(2) == "good" else "negative"
    return "positive"


def _optimizer(request: ScriptedRequest) -> str:
    CALLS.append("optimizer")
    user = request.last_user
    asked = re.search(r"exactly (\d+)", user)
    n = int(asked.group(1)) if asked else 1
    if "Diagnose the prompt" in user:
        return json.dumps({"reasons": ["the prompt does not ask for care"] * n})
    quoted = re.search(r"<<<PROMPT\n(.*?)\nPROMPT>>>", user, re.S)
    parent = quoted.group(1) if quoted else "Label: {text}"
    tag = f"{request.params.seed}-{request.sample}"
    return json.dumps({"prompts": [f"Be CAREFUL ({tag}/{k}). {parent}" for k in range(n)]})


def task_model() -> ScriptedChatModel:
    return ScriptedChatModel(default=_task, model_id="cli-task")


def optimizer_model() -> ScriptedChatModel:
    return ScriptedChatModel(default=_optimizer, model_id="cli-optimizer")


def rewriter_model() -> ScriptedChatModel:
    return ScriptedChatModel(
        default="Explain step by step: what is the boiling point of water at sea level, in C?",
        model_id="cli-rewriter",
    )


def _answer(request: ScriptedRequest) -> str:
    """Target model: a DETAILED answer to rewritten (step-by-step) prompts, a short one else."""
    return "A DETAILED answer." if "step by step" in request.last_user else "Short."


def _judge(request: ScriptedRequest) -> str:
    """Judge: prefers the DETAILED answer whichever position it is in."""
    text = request.last_user
    detailed = text.find("DETAILED")
    verdict = (
        "tie" if detailed < 0 else "A" if detailed < text.find("Assistant B's Answer") else "B"
    )
    if request.response_format is not None:  # --judge-format json: the verdict as JSON
        CALLS.append("judge json")
        return json.dumps({"explanation": "compared", "verdict": verdict})
    return {"A": "[[A]]", "B": "[[B]]", "tie": "Both are the same. [[C]]"}[verdict]


def target_model() -> ScriptedChatModel:
    return ScriptedChatModel(default=_answer, model_id="cli-target")


def judge_model() -> ScriptedChatModel:
    return ScriptedChatModel(default=_judge, model_id="cli-judge")


def step_rewriter_model() -> ScriptedChatModel:
    """Rewrites any instruction by asking for steps, keeping the original words."""

    def rewrite(request: ScriptedRequest) -> str:
        CALLS.append(f"rewriter seed={request.params.seed}")
        quoted = re.search(r"<original>\n(.*?)\n</original>", request.last_user, re.S)
        if quoted is None:  # the meta-prompt changed: fail loudly rather than rewrite junk
            raise AssertionError(f"no <original> block in {request.last_user!r}")
        original = quoted.group(1)
        return f"{original.strip()} Please answer step by step, with details and examples."

    return ScriptedChatModel(default=rewrite, model_id="cli-step-rewriter")


def pair_model() -> ScriptedChatModel:
    """Pair construction: a comparison and an optimized instruction (long enough to keep)."""

    def reply(request: ScriptedRequest) -> str:
        return (
            "Comparison: the good answer is specific and complete.\n"
            "Optimized Instruction: Answer precisely and completely, giving concrete details "
            "and a short example for the request."
        )

    return ScriptedChatModel(default=reply, model_id="cli-pairs")


class HoldingTaskModel(ModelIdentity):
    """The scripted task model, except that once the file ``$APO_TEST_HOLD`` exists (a run's
    checkpoint) it touches ``$APO_TEST_HOLD.held`` and waits, as a slow server would, so that a
    test can interrupt the run mid-round at a known point."""

    def __init__(self) -> None:
        self.inner = task_model()
        self._model_id = self.inner.model_id
        self._provider = self.inner.provider
        self._cache_identity = self.inner.cache_identity
        self.hold = os.environ.get("APO_TEST_HOLD")

    def _holding(self) -> bool:
        if not self.hold or not Path(self.hold).exists():
            return False
        Path(self.hold + ".held").touch()
        return True

    async def complete(
        self,
        messages: list[Message],
        params: CompletionParams,
        *,
        response_format: type[BaseModel] | None = None,
    ) -> Completion:
        if self._holding():
            await asyncio.sleep(3600)  # until Ctrl-C cancels the run
        return await self.inner.complete(messages, params, response_format=response_format)


def holding_task_model() -> HoldingTaskModel:
    return HoldingTaskModel()
