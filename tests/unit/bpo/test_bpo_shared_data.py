"""BPO on the thu-coai/BPO samples in ../shared/data/bpo (guard, pairs), when the folder exists.

Nothing is copied from there: the tests read the files in place and skip, saying why, when
they are absent (``APO_SHARED_DATA`` may point at another ``data`` folder).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from apo_core import Engine, ScriptedChatModel
from apo_core.bpo import Guard, build_pairs, load_preference_rows, write_sft_jsonl
from apo_core.bpo.answered import answer_signal
from apo_core.bpo.templates import BPO_INSTRUCTION
from apo_core.models import ScriptedRequest

REPO = Path(__file__).resolve().parents[3]


def shared_bpo_dir() -> Path:
    """``$APO_SHARED_DATA/bpo``, else ``<repo>/../shared/data/bpo``."""
    root = os.environ.get("APO_SHARED_DATA")
    return (Path(root) if root else REPO.parent / "shared" / "data") / "bpo"


def shared_file(name: str) -> Path:
    path = shared_bpo_dir() / name
    if not path.is_file():
        pytest.skip(
            f"{path} is absent: the thu-coai/BPO samples live outside the repo "
            "(../shared/data/bpo, or set APO_SHARED_DATA to the data folder)"
        )
    return path


def bpo_test_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(shared_file("bpo_test.json").read_text())
    return rows


def test_the_guard_accepts_the_papers_own_rewrites() -> None:
    """The 200 (prompt, optimized prompt) pairs of the BPO test set are genuine rewrites."""
    rows = bpo_test_rows()
    guard = Guard(markers=None)
    flagged = [r for r in rows if answer_signal(r["prompt"], r["optimized_prompt"])]
    passed = [r for r in rows if guard.check(r["prompt"], r["optimized_prompt"]) is None]
    assert len(flagged) <= 0.02 * len(rows)  # measured: 1 of 200
    assert len(passed) >= 0.85 * len(rows)  # measured: 179 of 200


def test_the_guard_rejects_answers_offered_as_rewrites() -> None:
    """The good responses of the same rows answer the prompts: they must not pass as rewrites."""
    rows = bpo_test_rows()
    guard = Guard(markers=None)
    answered = [r for r in rows if answer_signal(r["prompt"], r["good_res"])]
    rejected = [r for r in rows if guard.check(r["prompt"], r["good_res"]) is not None]
    assert len(answered) >= 0.4 * len(rows)  # measured: 93 of 200
    assert len(rejected) >= 0.75 * len(rows)  # measured: 167 of 200


async def test_pairs_from_the_data_construction_samples(tmp_path: Path) -> None:
    """The release's data-construction samples, with and without context, through build_pairs."""
    rows = [
        *load_preference_rows(shared_file("examples_no_ctx.json")),
        *load_preference_rows(shared_file("examples_ctx.json")),
    ]
    assert len(rows) == 4 and sum(bool(r.context) for r in rows) >= 1
    silent = rows[1].instruction  # this row's reply lacks the optimized instruction

    def optimizer(request: ScriptedRequest) -> str:
        text = request.last_user
        [row] = [r for r in rows if f'Instruction:\n"{r.instruction}"' in text]
        assert f'Good response:\n"{row.good}"' in text and f'Bad response:\n"{row.bad}"' in text
        assert ("Context:" in text) == bool(row.context)
        if row.instruction == silent:
            return "Detailed Comparison Result: the good response is more complete."
        return (
            "Detailed Comparison Result: the good response is accurate and specific.\n"
            f"Optimized Instruction: {row.instruction} Please answer accurately, with concrete "
            "details and an example. [END]"
        )

    model = ScriptedChatModel(default=optimizer, model_id="pairs")
    result = await build_pairs(Engine(roles={"optimizer": model}), rows)
    assert len(model.calls) == 4
    assert result.stats.total == 4 and result.stats.kept == 3
    assert result.stats.dropped == {"no_optimized_instruction": 1}
    assert [d.index for d in result.dropped] == [1]
    for pair in result.pairs:
        assert pair.optimized_instruction.endswith("with concrete details and an example.")
        assert pair.comparison.startswith("the good response is accurate")
        if pair.context:  # the context follows the instruction on both sides, unrewritten
            assert pair.prompt == f"{pair.instruction.strip()}\n{pair.context.strip()}"
            assert pair.optimized_prompt.endswith(pair.context.strip())
    written = write_sft_jsonl(result, tmp_path / "sft.jsonl", stats_path=tmp_path / "s.json")
    records = [json.loads(line) for line in (tmp_path / "sft.jsonl").read_text().splitlines()]
    assert written == len(records) == 3
    assert records[0]["messages"][0]["content"] == BPO_INSTRUCTION + result.pairs[0].prompt
    stats = json.loads((tmp_path / "s.json").read_text())
    assert (
        stats["stats"]["kept"] == 3 and stats["dropped"][0]["reason"] == "no_optimized_instruction"
    )
