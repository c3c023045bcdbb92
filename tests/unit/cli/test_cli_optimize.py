"""`apo optimize`, `--estimate`, `--resume` and `apo report` with scripted models."""

from __future__ import annotations

import json
from pathlib import Path

import cli_models
from typer.testing import CliRunner

from apo_core.cli import app
from apo_core.models import tokenizer_name


def run(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_optimize_writes_result_and_report_and_improves(runner: CliRunner, task_dir: Path) -> None:
    code, out, err = run(runner, "optimize", str(task_dir), "--quiet")
    assert code == 0, err
    folder = task_dir / ".apo" / "runs" / "demo"
    result = json.loads((folder / "result.json").read_text())
    assert (
        result["best_validation"]["accuracy"]["value"]
        > result["initial_validation"]["accuracy"]["value"]
    )
    assert "CAREFUL" in result["best_prompt"]
    assert "validation accuracy" in out and "test accuracy" in out
    assert f"report: {folder / 'report.html'}" in out
    html = (folder / "report.html").read_text()
    assert "<svg" in html
    assert (task_dir / ".apo" / "cache.sqlite").exists()


def test_rerun_replays_from_cache_for_free(runner: CliRunner, task_dir: Path) -> None:
    assert run(runner, "optimize", str(task_dir), "--quiet")[0] == 0
    first = json.loads((task_dir / ".apo/runs/demo/result.json").read_text())
    cli_models.CALLS.clear()
    code, out, _ = run(runner, "optimize", str(task_dir), "--quiet")
    assert code == 0
    assert cli_models.CALLS == []  # every call answered by the cache
    second = json.loads((task_dir / ".apo/runs/demo/result.json").read_text())
    assert second["best_prompt"] == first["best_prompt"]
    assert second["usage"]["total"]["calls"] == 0
    assert "LLM calls 0" in out


def test_estimate_makes_no_call(runner: CliRunner, task_dir: Path) -> None:
    code, out, _ = run(runner, "optimize", str(task_dir), "--estimate")
    assert code == 0
    assert "optimizer" in out and "task" in out and "total calls at most" in out
    assert f"tokens counted with: {tokenizer_name()}" in out
    assert cli_models.CALLS == []
    assert not (task_dir / ".apo" / "runs").exists()


def test_estimate_bounds_output_tokens_per_reply(runner: CliRunner, task_dir: Path) -> None:
    # Two paraphrases per edit come back from one call: the output bound counts both replies.
    toml = task_dir / "task.toml"
    toml.write_text(
        toml.read_text().replace("mc_samples_per_step = 0", "mc_samples_per_step = 2")
        + "optimizer_max_tokens = 100\n"
    )
    code, out, err = run(runner, "optimize", str(task_dir), "--estimate")
    assert code == 0, err
    row = next(line for line in out.splitlines() if line.strip("│ ").startswith("optimizer"))
    cells = [c.strip().replace(",", "") for c in row.split("│") if c.strip()]
    calls, tokens_out = int(cells[2]), int(cells[4])
    assert tokens_out > calls * 100  # more replies than calls, each bounded by max_tokens
    assert tokens_out % 100 == 0


def test_resume_of_a_finished_run_pays_nothing(runner: CliRunner, task_dir: Path) -> None:
    assert run(runner, "optimize", str(task_dir), "--quiet", "--no-cache")[0] == 0
    best = json.loads((task_dir / ".apo/runs/demo/result.json").read_text())["best_prompt"]
    cli_models.CALLS.clear()
    code, _, err = run(runner, "optimize", str(task_dir), "--quiet", "--no-cache", "--resume")
    assert code == 0, err
    assert "optimizer" not in cli_models.CALLS  # no round re-run
    again = json.loads((task_dir / ".apo/runs/demo/result.json").read_text())["best_prompt"]
    assert again == best


def test_report_command_renders_a_run(runner: CliRunner, task_dir: Path, tmp_path: Path) -> None:
    assert run(runner, "optimize", str(task_dir), "--quiet")[0] == 0
    target = tmp_path / "elsewhere"
    code, out, err = run(runner, "report", str(task_dir / ".apo/runs/demo"), "--out", str(target))
    assert code == 0, err
    assert (target / "report.html").exists() and (target / "report.md").exists()
    assert "report:" in out


def test_bpo_rewrites_one_instruction(runner: CliRunner, tmp_path: Path) -> None:
    code, out, err = run(
        runner,
        "bpo",
        "boiling point of water at sea level?",
        "--model",
        "python:cli_models:rewriter_model",
        "--no-cache",
    )
    assert code == 0, err
    assert "step by step" in out
