"""Quickstart: optimize a prompt with APO (ProTeGi) and write its HTML report.

Runs offline in a second: the task and optimizer models are ScriptedChatModel stand-ins.
"""

# --8<-- [start:world]
import json
import re

from apo_core import Engine, ScriptedChatModel, ScriptedRequest


def task_model(request: ScriptedRequest) -> str:
    """A stand-in LLM that misses sarcasm unless its prompt warns about it."""
    text = request.last_user
    review = text.rsplit("Review:", 1)[-1]
    if "sarcasm" in text.lower() and "oh great" in review.lower():
        return "negative"
    return "positive" if "great" in review.lower() else "negative"


def optimizer_model(request: ScriptedRequest) -> str:
    """A stand-in optimizer: one gradient (a reason), one edit, one paraphrase."""
    quoted = re.search(r"<<<PROMPT\n(.*?)\nPROMPT>>>", request.last_user, re.S)
    prompt = quoted.group(1) if quoted else ""
    if "Diagnose the prompt" in request.last_user:  # the gradient step
        return json.dumps({"reasons": ["The prompt never mentions sarcasm."]})
    if "improved prompt" in request.last_user:  # the edit step
        return json.dumps({"prompts": ["Watch out for sarcasm. " + prompt]})
    return json.dumps({"prompts": [prompt.replace("Is this", "Is the", 1)]})  # paraphrase


engine = Engine(
    roles={
        "task": ScriptedChatModel(default=task_model, model_id="task-llm"),
        "optimizer": ScriptedChatModel(default=optimizer_model, model_id="optimizer-llm"),
    }
)
# --8<-- [end:world]

# --8<-- [start:main]
import tempfile

from apo_core import APO, Dataset, LabelAccuracy
from apo_core.report import write_report

reviews = ["great phone", "awful battery", "oh great, it broke again", "great screen"] * 6
labels = ["positive", "negative", "negative", "positive"] * 6
data = Dataset.from_records(
    [
        {"text": f"{r} (#{i})", "label": y}
        for i, (r, y) in enumerate(zip(reviews, labels, strict=True))
    ],
    output_key="label",
)
train, validation, test = data.split(train=0.5, validation=0.25, test=0.25, seed=0)

apo = APO(engine, rounds=2, beam_size=2, minibatch_size=8, n_gradients=1, seed=0)
result = apo.optimize_sync(
    "Is this review positive or negative?\nReview: {text}\nSentiment:",
    train=train,
    validation=validation,
    test=test,
    metric=LabelAccuracy(["positive", "negative"]),
)

print(result.best_prompt)
assert result.best_validation is not None and result.initial_validation is not None
print(f"validation {result.initial_validation.accuracy.value:.2f}", end=" -> ")
print(f"{result.best_validation.accuracy.value:.2f} (stopped by {result.stopped_by})")

html, markdown = write_report(result, tempfile.mkdtemp())  # report.html + report.md
print(html.name, markdown.name)
# --8<-- [end:main]

assert "sarcasm" in result.best_prompt and result.best_validation.accuracy.value == 1.0
