"""`apo bpo --file`, `apo bpo-pairs` and `apo bpo-eval` with scripted models."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from apo_core.cli import app

FIXTURES = Path(__file__).parents[2] / "fixtures" / "bpo"


def test_bpo_file_writes_one_result_per_prompt(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "out" / "rewrites.jsonl"
    result = runner.invoke(
        app,
        [
            "bpo",
            "--file",
            str(FIXTURES / "prompts.jsonl"),
            "--out",
            str(target),
            "--model",
            "python:cli_models:step_rewriter_model",
            "--no-cache",
        ],
    )
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    prompts = (FIXTURES / "prompts.jsonl").read_text().splitlines()
    assert len(rows) == len(prompts)
    assert all({"original", "rewritten", "fallback"} <= set(row) for row in rows)
    questions = [json.loads(line)["text"] for line in prompts]
    assert [row["original"] for row in rows] == questions
    for row, question in zip(rows, questions, strict=True):
        assert row["fallback"] is None, row["fallback_detail"]
        assert row["rewritten"].startswith(question)  # the question survives the rewrite
        assert row["rewritten"] != question and "step by step" in row["rewritten"]
    assert "rewrote" in result.stdout


def test_bpo_pairs_writes_sft_records_and_stats(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "pairs.jsonl"
    result = runner.invoke(
        app,
        [
            "bpo-pairs",
            str(FIXTURES / "preferences.jsonl"),
            str(target),
            "--model",
            "python:cli_models:pair_model",
            "--no-cache",
        ],
    )
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert records and all("messages" in record for record in records)
    stats = json.loads(target.with_suffix(".stats.json").read_text())
    assert "kept" in json.dumps(stats)
    assert f"-> {target}" in result.stdout


def test_bpo_eval_reports_wins_for_better_rewrites(runner: CliRunner, tmp_path: Path) -> None:
    report_file = tmp_path / "eval.json"
    result = runner.invoke(
        app,
        [
            "bpo-eval",
            str(FIXTURES / "prompts.jsonl"),
            "--target",
            "python:cli_models:target_model",
            "--rewriter",
            "python:cli_models:step_rewriter_model",
            "--judge",
            "python:cli_models:judge_model",
            "--out",
            str(report_file),
            "--no-cache",
        ],
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(report_file.read_text())
    assert report["wins"] > 0 and report["losses"] == 0
    assert report["win_minus_loss"] > 0
    assert "win - loss" in result.stdout
