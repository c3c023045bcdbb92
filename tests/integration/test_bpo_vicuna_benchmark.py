"""benchmarks/bpo_vicuna.py end to end against FakeOpenAIServer, tiny sizes: it must not rot."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from apo_core.testing import FakeOpenAIServer
from apo_core.testing.wire import content_text

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bpo_vicuna.py"
QUESTIONS = ["How do I boil an egg?", "Name three rivers in Europe.", "Why is the sky blue?"]


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bpo_vicuna", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def responder(body: dict[str, Any]) -> str:
    """Rewriter: adds a request for steps; target: detailed answers to such requests;
    judge (JSON verdicts when asked): prefers the detailed answer."""
    users = [content_text(m.get("content")) for m in body["messages"] if m["role"] == "user"]
    user = users[-1]
    if body["model"] == "rewriter":
        original = re.search(r"<original>\n(.*?)\n</original>", user, re.S)
        assert original is not None
        return f"<prompt>{original.group(1)} Explain it step by step, with an example.</prompt>"
    if body["model"] == "judge":
        first = user.split("[The Start of Assistant A's Answer]\n")[1].split("\n")[0]
        verdict = "A" if first.startswith("STEPS") else "B"
        if body.get("response_format"):
            return json.dumps({"explanation": "one is detailed", "verdict": verdict})
        return f"One is detailed. [[{verdict}]]"
    return f"STEPS for: {user}" if "step by step" in user else f"short: {user}"


@pytest.mark.parametrize("judge_format", ["text", "json"])
async def test_the_benchmark_runs_and_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], judge_format: str
) -> None:
    script = load_script()
    data = tmp_path / "vicuna_eval.jsonl"
    data.write_text("".join(json.dumps({"text": q}) + "\n" for q in QUESTIONS))
    with FakeOpenAIServer(responder) as server:
        args = script.parse_args(
            [
                *("--data", str(data), "--base-url", server.base_url, "--model", "target"),
                *("--rewriter-model", "rewriter", "--judge-model", "judge"),
                *("--judge-format", judge_format, "--output-md", str(tmp_path / "bpo.md")),
                *("--output", str(tmp_path / "bpo.json")),
            ]
        )
        assert await script.run(args) == 0
        asked_json = [b for b in server.requests if b.get("model") == "judge"]
    assert len(asked_json) == 2 * len(QUESTIONS)  # both orders of every pair
    assert all(bool(b.get("response_format")) == (judge_format == "json") for b in asked_json)
    out = capsys.readouterr().out
    assert "win-loss=+100.0" in out
    md = (tmp_path / "bpo.md").read_text()
    assert md.startswith("# BPO pairwise evaluation on Vicuna Eval")
    assert "| win / tie / loss | 3 / 0 / 0 |" in md and "| rewrites accepted | 3 of 3;" in md
    report = json.loads((tmp_path / "bpo.json").read_text())
    assert report["report"]["wins"] == 3 and report["models"]["judge"] == "judge"


async def test_missing_data_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = load_script()
    assert await script.run(script.parse_args(["--data", str(tmp_path / "none.jsonl")])) == 2
    assert "Vicuna Eval data not found" in capsys.readouterr().err
