"""Every error a user can cause prints one clear line and exits 1, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from apo_core.cli import app


def expect_error(runner: CliRunner, args: list[str], *needles: str) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 1, (result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith("error:"), result.stderr
    message = " ".join(result.stderr.split())
    for needle in needles:
        assert needle in message, message
    return message


def edit(task_dir: Path, old: str, new: str) -> None:
    path = task_dir / "task.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_missing_task(runner: CliRunner, tmp_path: Path) -> None:
    expect_error(runner, ["optimize", str(tmp_path / "nope.toml")], "task not found")


def test_folder_without_task_file(runner: CliRunner, tmp_path: Path) -> None:
    expect_error(runner, ["optimize", str(tmp_path)], "no task.toml")


def test_invalid_toml(runner: CliRunner, task_dir: Path) -> None:
    (task_dir / "task.toml").write_text("name = \n[data\n")
    expect_error(runner, ["optimize", str(task_dir)], "is not valid TOML")


def test_unknown_model(runner: CliRunner, task_dir: Path) -> None:
    edit(task_dir, 'optimizer = "python:cli_models:optimizer_model"', 'optimizer = "gpt9"')
    expect_error(runner, ["optimize", str(task_dir)], "unknown model 'gpt9'")


def test_missing_api_key(runner: CliRunner, task_dir: Path) -> None:
    edit(task_dir, 'optimizer = "python:cli_models:optimizer_model"', 'optimizer = "openai:gpt-4o"')
    expect_error(runner, ["optimize", str(task_dir)], "OPENAI_API_KEY")


def test_missing_local_extra(
    runner: CliRunner, task_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "llama_cpp" else real(name, *a),
    )
    edit(task_dir, 'default = "python:cli_models:task_model"', 'default = "local"')
    expect_error(runner, ["optimize", str(task_dir)], "pip install 'apo-bpo[local]'")


def test_empty_dataset(runner: CliRunner, task_dir: Path) -> None:
    (task_dir / "data.jsonl").write_text("")
    expect_error(runner, ["optimize", str(task_dir)], "data.jsonl")


def test_template_variable_absent_from_data(runner: CliRunner, task_dir: Path) -> None:
    edit(task_dir, "Review: {text}", "Review: {review}")
    expect_error(runner, ["optimize", str(task_dir)], "{review}", "'text'")


def test_unknown_role(runner: CliRunner, task_dir: Path) -> None:
    edit(task_dir, "[models]", '[models]\ncritic = "local"')
    expect_error(runner, ["optimize", str(task_dir)], "unknown role", "critic")


def test_unknown_search_setting(runner: CliRunner, task_dir: Path) -> None:
    edit(task_dir, "[search]", "[search]\nbeam_width = 3")
    expect_error(runner, ["optimize", str(task_dir)], "[search]", "beam_width")


def test_bad_metric(runner: CliRunner, task_dir: Path) -> None:
    edit(task_dir, 'type = "label_accuracy"', 'type = "bleu"')
    expect_error(runner, ["optimize", str(task_dir)], "metric.type")


def test_report_of_missing_run(runner: CliRunner, tmp_path: Path) -> None:
    expect_error(runner, ["report", str(tmp_path)], "no result.json")


def test_report_of_foreign_json(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "result.json").write_text(json.dumps({"hello": 1}))
    expect_error(runner, ["report", str(tmp_path)], "is not an apo-bpo result")


def test_bpo_needs_input(runner: CliRunner) -> None:
    message = expect_error(runner, ["bpo", "--no-cache"], "nothing to rewrite")
    assert "not both" not in message


def test_bpo_takes_an_instruction_or_a_file_not_both(runner: CliRunner, tmp_path: Path) -> None:
    file = tmp_path / "p.jsonl"
    file.write_text('{"text": "hi"}\n')
    args = ["bpo", "hi", "--file", str(file), "--out", str(tmp_path / "o.jsonl"), "--no-cache"]
    expect_error(runner, args, "INSTRUCTION or --file, not both")


def test_bpo_file_without_prompts(runner: CliRunner, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    target = tmp_path / "out.jsonl"
    args = ["bpo", "--file", str(empty), "--out", str(target), "--no-cache"]
    expect_error(runner, [*args, "--model", "python:cli_models:rewriter_model"], "holds no prompts")
    assert not target.exists()


@pytest.mark.parametrize(
    ("command", "flag"),
    [
        (["bpo", "hi"], "--model"),
        (["bpo-eval", "PROMPTS"], "--rewriter"),
    ],
)
def test_bpo_model_source_refuses_chat_models(
    runner: CliRunner, tmp_path: Path, command: list[str], flag: str
) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"text": "hi"}\n')
    args = [str(prompts) if a == "PROMPTS" else a for a in command]
    for spec in ("local", "openai:gpt-4o-mini"):
        message = expect_error(
            runner,
            [*args, "--source", "bpo_model", flag, spec, "--no-cache"],
            "--source bpo_model",
            f"{flag} completion:THUDM/BPO@http://HOST:PORT/v1",
        )
        assert f"({flag} {spec})" in message


def test_bpo_pairs_empty_file_and_missing_keys(runner: CliRunner, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    out = str(tmp_path / "pairs.jsonl")
    model = ["--model", "python:cli_models:pair_model", "--no-cache"]
    expect_error(runner, ["bpo-pairs", str(empty), out, *model], "holds no preference records")
    odd = tmp_path / "odd.jsonl"
    odd.write_text(json.dumps({"q": "Name a color.", "win": "Blue.", "lose": "No."}) + "\n")
    message = expect_error(runner, ["bpo-pairs", str(odd), out, *model], "--key instruction=NAME")
    assert "keys present: ['lose', 'q', 'win']" in message
    expect_error(runner, ["bpo-pairs", str(odd), out, "--key", "q", *model], "FIELD=NAME")
    expect_error(runner, ["bpo-pairs", str(odd), out, "--key", "x=q", *model], "FIELD=NAME")


def test_bpo_bad_mode(runner: CliRunner) -> None:
    expect_error(runner, ["bpo", "hi", "--mode", "wild", "--no-cache"], "--mode must be")
