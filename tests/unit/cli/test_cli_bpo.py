"""`apo bpo --file`, `apo bpo-pairs` and `apo bpo-eval` with scripted models."""

from __future__ import annotations

import json
from pathlib import Path

import cli_models
from typer.testing import CliRunner

from apo_core.cli import app

FIXTURES = Path(__file__).parents[2] / "fixtures" / "bpo"
EVAL_MODELS = [
    "--target",
    "python:cli_models:target_model",
    "--rewriter",
    "python:cli_models:step_rewriter_model",
    "--judge",
    "python:cli_models:judge_model",
]


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
            *EVAL_MODELS,
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


def test_bpo_eval_judge_format_json(runner: CliRunner, tmp_path: Path) -> None:
    report_file = tmp_path / "eval.json"
    args = ["bpo-eval", str(FIXTURES / "prompts.jsonl"), *EVAL_MODELS, "--no-cache"]
    result = runner.invoke(app, [*args, "--judge-format", "json", "--out", str(report_file)])
    assert result.exit_code == 0, result.stderr
    report = json.loads(report_file.read_text())
    assert report["wins"] > 0 and report["unparsed"] == 0
    assert "judge json" in cli_models.CALLS
    cli_models.CALLS.clear()
    assert runner.invoke(app, args).exit_code == 0  # auto: text verdicts for a non-local judge
    assert "judge json" not in cli_models.CALLS
    bad = runner.invoke(app, [*args, "--judge-format", "yaml"])
    assert bad.exit_code != 0 and "--judge-format" in bad.stderr


def test_bpo_pairs_with_key_options(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "odd.jsonl"
    rows = [{"q": f"Name a color number {i}.", "win": "Blue.", "lose": "No."} for i in range(2)]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    target = tmp_path / "pairs.jsonl"
    keys = ["--key", "instruction=q", "--key", "good=win", "--key", "bad=lose"]
    model = ["--model", "python:cli_models:pair_model", "--no-cache"]
    result = runner.invoke(app, ["bpo-pairs", str(source), str(target), *keys, *model])
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(records) == 2
    assert "Name a color number 0." in json.dumps(records[0])


def test_bpo_eval_takes_rounds_seed_and_key(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "prompts.jsonl"
    source.write_text(json.dumps({"ask": "How do I boil an egg?"}) + "\n")
    report_file = tmp_path / "eval.json"
    args = [
        "bpo-eval",
        str(source),
        "--key",
        "instruction=ask",
        "--rounds",
        "2",
        "--seed",
        "7",
        *EVAL_MODELS,
        "--out",
        str(report_file),
        "--no-cache",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    report = json.loads(report_file.read_text())
    [item] = report["items"]
    # round 2 rewrote round 1's rewrite: the step-by-step request appears twice
    assert item["rewritten"].count("step by step") == 2
    assert item["original"] == "How do I boil an egg?"
    assert cli_models.CALLS == ["rewriter seed=7"] * 2  # --seed reaches the rewriter
