"""Scripted stand-in models for the CLI page, named in task.toml as ``python:scripted_models:NAME``.

Replace the specs with ``local``, ``openai:gpt-4o-mini`` or ``openai:MODEL@URL`` for real runs.
"""

import json
import re

from apo_core import ScriptedChatModel, ScriptedRequest


def _task(request: ScriptedRequest) -> str:
    text = request.last_user.lower()
    review = text.rsplit("review:", 1)[-1]
    if "sarcasm" in text and "oh great" in review:
        return "negative"
    return "positive" if "great" in review else "negative"


def _optimizer(request: ScriptedRequest) -> str:
    quoted = re.search(r"<<<PROMPT\n(.*?)\nPROMPT>>>", request.last_user, re.S)
    prompt = quoted.group(1) if quoted else ""
    if "Diagnose the prompt" in request.last_user:
        return json.dumps({"reasons": ["The prompt never mentions sarcasm."]})
    if "improved prompt" in request.last_user:
        return json.dumps({"prompts": ["Watch out for sarcasm. " + prompt]})
    return json.dumps({"prompts": [prompt.replace("Is this", "Is the", 1)]})


def _rewriter(request: ScriptedRequest) -> str:
    original = re.search(r"<original>\n(.*?)\n</original>", request.last_user, re.S)
    return f"<prompt>{original.group(1) if original else ''} Give three examples.</prompt>"


def task_model() -> ScriptedChatModel:
    return ScriptedChatModel(default=_task, model_id="scripted-task")


def optimizer_model() -> ScriptedChatModel:
    return ScriptedChatModel(default=_optimizer, model_id="scripted-optimizer")


def rewriter_model() -> ScriptedChatModel:
    return ScriptedChatModel(default=_rewriter, model_id="scripted-rewriter")
