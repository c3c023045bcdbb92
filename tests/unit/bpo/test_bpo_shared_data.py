"""BPO checks on the thu-coai/BPO samples in ../shared/data/bpo, when that folder exists.

Nothing is copied from there: the tests read the files in place and skip, saying why, when
they are absent (``APO_SHARED_DATA`` may point at another ``data`` folder).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from apo_core.bpo import Guard
from apo_core.bpo.answered import answer_signal

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
