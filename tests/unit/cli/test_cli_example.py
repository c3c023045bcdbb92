"""The README's main job: `apo optimize examples/sentiment` (estimate, and a scripted run)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cli_models
import pytest
from typer.testing import CliRunner

from apo_core.cli import app

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sentiment" / "task.toml"
SCRIPTED = [
    "--model",
    "python:cli_models:task_model",
    "--model",
    "optimizer=python:cli_models:optimizer_model",
]


def test_the_shipped_example_estimates_on_the_embedded_model(runner: CliRunner) -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("the [local] extra is not installed: the example's models are 'local'")
    result = runner.invoke(app, ["optimize", str(EXAMPLE), "--estimate", "--no-cache"])
    assert result.exit_code == 0, result.stderr
    out = " ".join(result.stdout.split())
    assert "Estimate for sentiment" in out and "SmolLM2-135M-Instruct" in out
    assert "total calls at most" in out and "priced cost at most $0.0000" in out
    assert not (EXAMPLE.parent / ".apo" / "runs").exists()  # nothing run, nothing written


def test_the_shipped_example_estimate_with_a_model_override(runner: CliRunner) -> None:
    result = runner.invoke(app, ["optimize", str(EXAMPLE), "--estimate", *SCRIPTED])
    assert result.exit_code == 0, result.stderr
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in result.stdout.splitlines()]
    rows = {row[0]: row for row in cells if row}
    assert rows["task"][1] == "cli-task" and rows["optimizer"][1] == "cli-optimizer"
    assert cli_models.CALLS == []


def test_the_shipped_example_runs_end_to_end_on_scripted_models(
    runner: CliRunner, tmp_path: Path
) -> None:
    args = ["optimize", str(EXAMPLE), *SCRIPTED, "--out", str(tmp_path), "--no-cache", "--quiet"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    assert "validation accuracy" in result.stdout and "test accuracy" in result.stdout
    assert f"report: {tmp_path / 'report.html'}" in result.stdout
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["initial_prompt"].startswith("Is the sentiment of this review positive")
    assert saved["rounds_completed"] >= 1
    assert "task" in cli_models.CALLS and "optimizer" in cli_models.CALLS


def test_model_override_errors(runner: CliRunner) -> None:
    result = runner.invoke(app, ["optimize", str(EXAMPLE), "--estimate", "--model", "task="])
    assert result.exit_code == 1 and "names no model spec" in result.stderr
    result = runner.invoke(app, ["optimize", str(EXAMPLE), "--estimate", "--model", "gpt9"])
    assert result.exit_code == 1 and "unknown model 'gpt9'" in result.stderr
