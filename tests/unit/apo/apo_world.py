"""A deterministic scripted world for APO tests: a task model, an optimizer model, data.

The task model gets better the more often the prompt says ``CAREFUL``: with ``c`` mentions it
answers example ``i`` correctly when ``i % 5 < c`` and says ``positive`` otherwise (right for
half of the rest). Edits prepend ``Be CAREFUL`` to the parent, so each round can improve.
The optimizer model returns structured JSON whose content depends only on the request (its
seed), so replies are identical across runs and replay exactly from the cache.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from apo_core import Engine, ScriptedChatModel, ScriptedRequest
from apo_core.apo import APOConfig
from apo_core.data import Example

PROMPT = "Classify the review.\nReview: {text}\nLabel:"
RUN_CONFIG = APOConfig(
    rounds=4,
    beam_size=2,
    minibatch_size=8,
    n_gradients=2,
    errors_per_gradient=2,
    mc_samples_per_step=1,
    max_expansion_factor=4,
    eval_budget=24,
    patience=None,
    seed=3,
)
"""A small whole run: four rounds of one or two parents (the checkpoint and failure tests)."""


def make_examples(prefix: str, n: int) -> list[Example]:
    """``n`` balanced examples whose text says ``good`` or ``bad``."""
    return [
        Example(
            inputs={"text": f"{prefix} {i} was {'good' if i % 2 == 0 else 'bad'}"},
            output="positive" if i % 2 == 0 else "negative",
        )
        for i in range(n)
    ]


def quoted_prompt(request: ScriptedRequest) -> str:
    """The prompt an optimizer request quotes between ``<<<PROMPT`` and ``PROMPT>>>``."""
    match = re.search(r"<<<PROMPT\n(.*?)\nPROMPT>>>", request.last_user, re.S)
    assert match is not None, request.last_user
    return match.group(1)


def task_reply(request: ScriptedRequest) -> str:
    text = request.last_user
    match = re.search(r"(\w+) (\d+) was (good|bad)", text)
    assert match is not None, text
    if int(match.group(2)) % 5 < text.count("CAREFUL"):
        return "positive" if match.group(3) == "good" else "negative"
    return "positive"


def count_asked(request: ScriptedRequest) -> int:
    match = re.search(r"exactly (\d+)", request.last_user)
    return int(match.group(1)) if match else 1


def optimizer_reply(request: ScriptedRequest) -> str:
    """JSON replies whose content depends on the request's seed and sample index only."""
    tag = f"{request.params.seed}-{request.sample}"
    user = request.last_user
    n = count_asked(request)
    if "Diagnose the prompt" in user:
        return json.dumps({"reasons": [f"reason {tag}/{k}" for k in range(n)]})
    parent = quoted_prompt(request)
    if "improved prompt" in user:
        return json.dumps({"prompts": [f"Be CAREFUL ({tag}/{k}). {parent}" for k in range(n)]})
    return json.dumps({"prompts": [f"Paraphrase {tag}: {parent}"]})


def make_engine(
    *,
    optimizer: Callable[[ScriptedRequest], str] = optimizer_reply,
    task: Callable[[ScriptedRequest], str] = task_reply,
    **kwargs: Any,
) -> tuple[Engine, ScriptedChatModel, ScriptedChatModel]:
    """An engine with scripted task and optimizer models (returned too, for their call logs)."""
    task_model = ScriptedChatModel(default=task, model_id="task-model")
    opt_model = ScriptedChatModel(default=optimizer, model_id="optimizer-model")
    engine = Engine(roles={"task": task_model, "optimizer": opt_model}, **kwargs)
    return engine, task_model, opt_model


def label_metric(prediction: str, example: Example) -> float:
    return 1.0 if prediction.strip().lower() == str(example.output) else 0.0


def run_data() -> dict[str, Any]:
    """The splits and metric of a :data:`RUN_CONFIG` run, as ``optimize`` keyword arguments."""
    return {
        "train": make_examples("train", 24),
        "validation": make_examples("val", 10),
        "test": make_examples("test", 6),
        "metric": label_metric,
    }
