"""Fixtures for CLI tests: a task folder with data and scripted models, and a runner."""

from __future__ import annotations

import json
from pathlib import Path

import cli_models
import pytest
from typer.testing import CliRunner

TASK = """
name = "demo"
prompt = "Classify the review.\\nReview: {text}\\nLabel:"
seed = 3

[data]
path = "data.jsonl"
split = { train = 0.5, validation = 0.25, test = 0.25 }

[metric]
type = "label_accuracy"
labels = ["positive", "negative"]

[models]
task = "python:cli_models:task_model"
optimizer = "python:cli_models:optimizer_model"
default = "python:cli_models:task_model"

[search]
rounds = 2
beam_size = 2
minibatch_size = 8
n_gradients = 1
errors_per_gradient = 2
mc_samples_per_step = 0
pulls_per_candidate = 4
patience = 3
"""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(autouse=True)
def _fresh_calls() -> None:
    cli_models.CALLS.clear()


@pytest.fixture
def task_dir(tmp_path: Path) -> Path:
    rows = [
        {
            "text": f"item {i} was {'good' if i % 2 == 0 else 'bad'}",
            "label": "positive" if i % 2 == 0 else "negative",
        }
        for i in range(40)
    ]
    (tmp_path / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (tmp_path / "task.toml").write_text(TASK)
    return tmp_path
