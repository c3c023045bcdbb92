"""The scripted world of the reliability tests, in process and behind FakeOpenAIServer.

Like ``tests/unit/apo/apo_world.py``: the task model answers ``item I was good|bad`` right when
``I % 5`` is below the number of times the prompt says ``CAREFUL`` (else ``positive``); edits
prepend ``Be CAREFUL``, so APO improves. Optimizer replies are JSON that depends only on the
request's seed, so every run with the same seed gets the same replies.
"""

from __future__ import annotations

import json
import re
from typing import Any

from apo_core import Engine, OpenAIChatModel, ScriptedChatModel
from apo_core.apo import APOConfig, APOResult
from apo_core.data import Example
from apo_core.testing.wire import content_text

PROMPT = "Classify the review.\nReview: {text}\nLabel:"
TASK_MODEL, OPTIMIZER_MODEL = "task-model", "optimizer-model"
CONFIG = APOConfig(
    rounds=2,
    beam_size=2,
    minibatch_size=8,
    n_gradients=2,
    errors_per_gradient=2,
    mc_samples_per_step=1,
    max_expansion_factor=4,
    selector="brute_force",
    eval_budget=16,
    patience=None,
    seed=5,
)


def make_examples(prefix: str, n: int) -> list[Example]:
    """``n`` balanced examples whose text says ``good`` or ``bad``."""
    return [
        Example(
            inputs={"text": f"{prefix} {i} was {'good' if i % 2 == 0 else 'bad'}"},
            output="positive" if i % 2 == 0 else "negative",
        )
        for i in range(n)
    ]


def records(n: int) -> list[dict[str, str]]:
    """The same examples as JSONL records (``text``, ``label``) for task folders."""
    return [
        {"text": str(ex.inputs["text"]), "label": str(ex.output)} for ex in make_examples("item", n)
    ]


def task_answer(user: str) -> str:
    match = re.search(r"(\w+) (\d+) was (good|bad)", user)
    if match is None:
        return "positive"
    if int(match.group(2)) % 5 < user.count("CAREFUL"):
        return "positive" if match.group(3) == "good" else "negative"
    return "positive"


def optimizer_answer(user: str, seed: Any) -> str:
    asked = re.search(r"exactly (\d+)", user)
    n = int(asked.group(1)) if asked else 1
    if "Diagnose the prompt" in user:
        return json.dumps(
            {"reasons": [f"reason {seed}/{k}: the prompt never asks for care" for k in range(n)]}
        )
    quoted = re.search(r"<<<PROMPT\n(.*?)\nPROMPT>>>", user, re.S)
    parent = quoted.group(1) if quoted else PROMPT
    if "improved prompt" in user:
        return json.dumps({"prompts": [f"Be CAREFUL ({seed}/{k}). {parent}" for k in range(n)]})
    return json.dumps({"prompts": [f"Paraphrase {seed}: {parent}"]})


def responder(body: dict[str, Any]) -> str:
    """FakeOpenAIServer responder: optimizer JSON or task labels, by the requested model."""
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    user = content_text(users[-1].get("content")) if users else ""
    if body.get("model") == OPTIMIZER_MODEL:
        return optimizer_answer(user, body.get("seed"))
    return task_answer(user)


def http_engine(base_url: str, *, api_key: str | None = None, **kwargs: Any) -> Engine:
    """An engine whose roles are OpenAIChatModels on ``base_url``."""
    task = OpenAIChatModel(TASK_MODEL, base_url=base_url, api_key=api_key)
    opt = OpenAIChatModel(OPTIMIZER_MODEL, base_url=base_url, api_key=api_key)
    return Engine(roles={"task": task, "optimizer": opt}, **kwargs)


def scripted_engine(**kwargs: Any) -> Engine:
    """An engine whose roles answer in process, at once."""
    task = ScriptedChatModel(default=lambda r: task_answer(r.last_user), model_id=TASK_MODEL)
    opt = ScriptedChatModel(
        default=lambda r: optimizer_answer(r.last_user, r.params.seed), model_id=OPTIMIZER_MODEL
    )
    return Engine(roles={"task": task, "optimizer": opt}, **kwargs)


def label_metric(prediction: str, example: Example) -> float:
    return 1.0 if prediction.strip().lower() == str(example.output) else 0.0


def outcome(result: APOResult | dict[str, Any]) -> dict[str, Any]:
    """What must not change between equivalent runs: prompts, beam, scores, history."""
    data = result if isinstance(result, dict) else json.loads(result.to_json())
    history = [{k: v for k, v in h.items() if k != "elapsed_s"} for h in data["history"]]
    keys = ("best_prompt", "beam", "best_validation", "best_test", "rounds_completed")
    return {"history": history, **{k: data[k] for k in keys}}
