"""APO through the OpenAI backend against the fake server on 127.0.0.1: schemas, fallbacks,
faults. The optimizer's replies are JSON, with or without server support for response formats.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest
from apo_world import label_metric, make_examples

from apo_core import Backoff, Engine, OpenAIChatModel
from apo_core.apo import APO, APOConfig
from apo_core.testing import FakeOpenAIServer, Fault

PROMPT = "Classify the review.\nReview: {text}\nLabel:"
CONFIG = APOConfig(rounds=1, beam_size=2, minibatch_size=8, n_gradients=3, eval_budget=16)


def responder(body: dict[str, Any]) -> str:
    user = body["messages"][-1]["content"]
    match = re.search(r"<<<PROMPT\n(.*?)\nPROMPT>>>", user, re.S)
    if match is None:  # the task: right only when told to be careful
        if "CAREFUL" in user:
            return "positive" if " was good" in user else "negative"
        return "positive"
    tag = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:8]
    if "Diagnose the prompt" in user:
        return json.dumps({"reasons": [f"it never asks for care ({tag})"]})
    return "Sure!\n" + json.dumps({"prompts": [f"Be CAREFUL ({tag}). {match.group(1)}"]})


def engine_for(server: FakeOpenAIServer) -> Engine:
    model = OpenAIChatModel("fake-model", base_url=server.base_url)
    return Engine(model, max_attempts=3, backoff=Backoff(initial_s=0.0, max_s=0.0, jitter=False))


@pytest.mark.parametrize("rejected", [(), ("json_schema",), ("json_schema", "json_object")])
def test_apo_over_http_with_and_without_structured_output(rejected: tuple[str, ...]) -> None:
    with FakeOpenAIServer(responder, reject_response_formats=rejected) as server:
        engine = engine_for(server)
        result = APO(engine, CONFIG).optimize_sync(
            PROMPT,
            train=make_examples("train", 20),
            validation=make_examples("val", 10),
            metric=label_metric,
        )
    counts = result.history[0].counts
    assert counts.gradient_calls == 3 and counts.parse_failures == 0
    assert len(result.history[0].gradients) == 3
    assert "CAREFUL" in result.best_prompt
    assert result.best_validation is not None and result.best_validation.accuracy.value == 1.0


def test_http_faults_never_kill_the_run() -> None:
    with FakeOpenAIServer(responder) as server:
        server.add_faults(Fault(status=400), Fault(status=500), Fault(malformed=True))
        result = APO(engine_for(server), CONFIG).optimize_sync(
            PROMPT,
            train=make_examples("train", 20),
            validation=make_examples("val", 10),
            metric=label_metric,
        )
        assert len(server.requests) > 3
    # the 400 failed one call for good (an example scored 0, or one optimizer branch lost);
    # the 500 and the malformed reply were retried
    assert result.stopped_by == "rounds" and result.history[0].gradients
    assert result.usage.total.failures == 1 and result.usage.total.retries == 2
