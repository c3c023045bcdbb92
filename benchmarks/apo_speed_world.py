"""The simulated provider of ``apo_speed.py``: a LIAR-like task where APO really improves.

Modelled on ``tests/unit/apo/apo_world.py``. Statements read ``claim I was true|false``; the task
model answers claim ``I`` correctly when ``I % 5`` is below the number of times the prompt says
``CAREFUL`` and says ``no`` otherwise. The optimizer answers JSON whose content depends only on
the request (its seed), so replies are deterministic and replay from the cache. The same logic
serves FakeOpenAIServer (``responder``) and an instant in-process backend (``scripted_engine``).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from typing import Any

from pydantic import BaseModel

from apo_core import Engine, Example, ScriptedChatModel
from apo_core.engine import Event, RunEvent
from apo_core.models import ChatModel
from apo_core.testing.wire import content_text
from apo_core.types import Completion, CompletionParams, Message

PROMPT = "Decide whether the statement is a lie.\nStatement: {text}\nAnswer yes or no:"
TASK_MODEL, OPTIMIZER_MODEL = "task-model", "optimizer-model"
_CLAIM = re.compile(r"claim (\d+) was (true|false)")


def make_examples(n: int, offset: int = 0) -> list[Example]:
    """``n`` balanced examples; label ``yes`` means the claim is a lie."""
    return [
        Example(
            inputs={"text": f"claim {i} was {'false' if i % 2 else 'true'}"},
            output="yes" if i % 2 else "no",
        )
        for i in range(offset, offset + n)
    ]


def task_answer(user: str) -> str:
    match = _CLAIM.search(user)
    if match is None:
        return "no"
    if int(match.group(1)) % 5 < user.count("CAREFUL"):
        return "yes" if match.group(2) == "false" else "no"
    return "no"


def optimizer_kind(user: str) -> str:
    """Which optimizer step a request is: ``gradient``, ``edit`` or ``paraphrase``."""
    if "Diagnose the prompt" in user:
        return "gradient"
    return "edit" if "improved prompt" in user else "paraphrase"


def optimizer_answer(user: str, seed: Any) -> str:
    asked = re.search(r"exactly (\d+)", user)
    n = int(asked.group(1)) if asked else 1
    kind = optimizer_kind(user)
    if kind == "gradient":
        return json.dumps(
            {"reasons": [f"reason {seed}/{k}: it does not ask for care" for k in range(n)]}
        )
    quoted = re.search(r"<<<PROMPT\n(.*?)\nPROMPT>>>", user, re.S)
    parent = quoted.group(1) if quoted else PROMPT
    if kind == "edit":
        return json.dumps({"prompts": [f"Be CAREFUL ({seed}/{k}). {parent}" for k in range(n)]})
    return json.dumps({"prompts": [f"Paraphrase {seed}: {parent}"]})


def responder(body: dict[str, Any]) -> str:
    """FakeOpenAIServer responder: task answers or optimizer JSON, by the requested model."""
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    user = content_text(users[-1].get("content")) if users else ""
    if body.get("model") == OPTIMIZER_MODEL:
        return optimizer_answer(user, body.get("seed"))
    return task_answer(user)


def scripted_engine(
    *, tracker: StageTracker | None = None, latency_s: float = 0.0, **kwargs: Any
) -> Engine:
    """An engine whose task and optimizer models answer in process (after ``latency_s``);
    with a ``tracker``, their calls are counted per stage."""
    task: ChatModel = ScriptedChatModel(
        default=lambda r: task_answer(r.last_user), model_id=TASK_MODEL
    )
    opt: ChatModel = ScriptedChatModel(
        # seed + sample, as the fake server varies the seed per choice: n distinct paraphrases
        default=lambda r: optimizer_answer(r.last_user, (r.params.seed or 0) + r.sample),
        model_id=OPTIMIZER_MODEL,
    )
    if tracker is not None:
        task = Tagged(task, "task", tracker, delay_s=latency_s)
        opt = Tagged(opt, "optimizer", tracker, delay_s=latency_s)
    return Engine(roles={"task": task, "optimizer": opt}, **kwargs)


class StageTracker:
    """Follows the run's events and counts answered backend calls per (stage, kind).

    Stages are the run's barriers: ``initial`` validation, then per round ``expand``,
    ``select`` and ``validate``, then ``test``. Within ``expand`` the kinds (minibatch,
    gradient, edit, paraphrase) form a dependency chain.
    """

    def __init__(self) -> None:
        self.stage = "initial"
        self.order: list[str] = ["initial"]
        self.calls: Counter[tuple[str, str]] = Counter()

    def __call__(self, event: Event) -> None:
        if not isinstance(event, RunEvent):
            return
        r = event.data.get("round")
        stage = {
            "round_started": f"expand {r}",
            "candidates_expanded": f"select {r}",
            "selection_done": f"validate {r}",
            "test_started": "test",
        }.get(event.kind)
        if stage is not None:
            self.stage = stage
            self.order.append(stage)

    def classify(self, role: str, messages: list[Message]) -> tuple[str, str]:
        """The (stage, kind) of a call starting now."""
        user = next((m.content for m in reversed(messages) if m.role == "user"), "")
        kind = optimizer_kind(user) if role == "optimizer" else "task"
        if kind == "task" and self.stage.startswith("expand"):
            kind = "minibatch"
        return self.stage, kind


class Tagged:
    """A chat model that tells a :class:`StageTracker` about each backend call it makes
    (after sleeping ``delay_s``, a simulated latency)."""

    def __init__(
        self, inner: ChatModel, role: str, tracker: StageTracker, *, delay_s: float = 0.0
    ) -> None:
        self.inner, self.role, self.tracker, self.delay_s = inner, role, tracker, delay_s

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def provider(self) -> str:
        return self.inner.provider

    @property
    def cache_identity(self) -> str:
        return self.inner.cache_identity

    async def complete(
        self,
        messages: list[Message],
        params: CompletionParams,
        *,
        response_format: type[BaseModel] | None = None,
    ) -> Completion:
        where = self.tracker.classify(self.role, messages)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        completion = await self.inner.complete(messages, params, response_format=response_format)
        self.tracker.calls[where] += 1  # answered calls only: failed attempts are retried
        return completion
