"""benchmarks/apo_liar.py end to end against FakeOpenAIServer, tiny sizes: it must not rot."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from apo_core.apo import APOResult
from apo_core.testing import FakeOpenAIServer
from apo_core.testing.wire import content_text

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "apo_liar.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("apo_liar", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_liar(folder: Path) -> None:
    """Tiny LIAR-shaped files: label 1 (a lie) when the statement says ``made up``."""
    folder.mkdir()
    for name, n in (("train.jsonl", 40), ("test.jsonl", 12)):
        rows = [
            {"label": i % 2, "text": f"{name} claim {i}: {'made up' if i % 2 else 'checked'}"}
            for i in range(n)
        ]
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows))


def responder(body: dict[str, Any]) -> str:
    """The task model answers right only when told to be CAREFUL; the optimizer adds that."""
    user = [content_text(m.get("content")) for m in body["messages"] if m["role"] == "user"][-1]
    if body["model"] == "task-model":
        if "CAREFUL" not in user:
            return "No"
        return "Yes" if "made up" in user else "No"
    asked = re.search(r"exactly (\d+)", user)
    n = int(asked.group(1)) if asked else 1
    seed = body.get("seed")
    if "Diagnose the prompt" in user:
        return json.dumps({"reasons": [f"it never asks for care ({seed}/{k})" for k in range(n)]})
    parent = re.search(r"<<<PROMPT\n(.*?)\nPROMPT>>>", user, re.S)
    assert parent is not None
    if "improved prompt" in user:
        return json.dumps({"prompts": [f"Be CAREFUL ({seed}). {parent.group(1)}"] * n})
    return json.dumps({"prompts": [f"Reworded ({seed}): {parent.group(1)}"]})


async def test_the_benchmark_runs_and_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = load_script()
    write_liar(tmp_path / "liar")
    with FakeOpenAIServer(responder) as server:
        args = script.parse_args(
            [
                *("--data", str(tmp_path / "liar"), "--base-url", server.base_url),
                *("--model", "task-model", "--optimizer-model", "optimizer-model"),
                *("--train", "16", "--validation", "8", "--test", "12", "--rounds", "1"),
                *("--minibatch", "8", "--gradients", "2", "--eval-budget", "16"),
                *("--output", str(tmp_path / "result.json")),
                *("--output-md", str(tmp_path / "liar.md")),
            ]
        )
        assert await script.main(args) == 0
        assert server.counts["chat"] > 0
    out = capsys.readouterr().out
    assert re.search(r"TEST initial\s+0\.500 \[", out)
    assert re.search(r"TEST optimized\s+1\.000 \[1\.000, 1\.000\]\s+1\.000", out)
    assert "macro F1 (95% CI)" in out and re.search(r"^optimizer\s+\d+", out, re.M)

    result = APOResult.from_json(tmp_path / "result.json")
    assert result.improved and result.best_test is not None and result.initial_test is not None
    assert result.best_test.positive_label == "1"  # F1 of "a lie"
    assert result.initial_test.f1 is not None and result.initial_test.f1.value == 0.0
    assert result.initial_test.macro_f1 is not None and result.initial_test.no_label == 0
    md = (tmp_path / "liar.md").read_text()
    assert md.startswith("## APO on LIAR: task-model (optimizer optimizer-model)")
    assert (
        "| test | initial | 0.500 [" in md and "| test | optimized | 1.000 [1.000, 1.000] |" in md
    )
    usage = result.usage.by_role
    assert f"| optimizer | {usage['optimizer'].calls:,} |" in md
    assert f"| task | {usage['task'].calls:,} |" in md and "```text\nBe CAREFUL" in md


async def test_missing_data_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = load_script()
    assert await script.main(script.parse_args(["--data", str(tmp_path)])) == 2
    assert "LIAR data not found" in capsys.readouterr().err
