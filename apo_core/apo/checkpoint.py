"""Checkpoints: the run state after each completed round, as JSON written atomically.

The file is written to a temporary file in the same directory (mode 0600), fsynced, and moved
over the old one with ``os.replace`` (the folder is fsynced too), so a crash leaves either the
previous or the new checkpoint, never a torn one. A checkpoint only resumes the run it came
from: same initial prompt, config and data (checked by a fingerprint).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from apo_core.apo.config import APOConfig
from apo_core.apo.files import atomic_write_text
from apo_core.apo.result import BeamEntry, RoundRecord, SplitScores, StoppedBy
from apo_core.errors import ConfigError
from apo_core.ledger import UsageReport

if TYPE_CHECKING:
    from apo_core.data import Example

CHECKPOINT_VERSION = 1


class RunState(BaseModel):
    """Everything needed to continue a run after its last completed round."""

    version: int = CHECKPOINT_VERSION
    fingerprint: str
    initial_prompt: str
    config: APOConfig
    rounds_completed: int = 0
    beam: list[BeamEntry] = Field(default_factory=list)
    best_prompt: str
    best_validation: float | None = None
    initial_validation: SplitScores | None = None
    stale_rounds: int = 0
    finished: StoppedBy | None = None
    """Set when the search itself ended (rounds done or patience), not on a budget stop."""
    history: list[RoundRecord] = Field(default_factory=list)
    memo: dict[str, dict[str, list[Any]]] = Field(default_factory=dict)
    """Per prompt, per example id: ``[value, prediction, feedback, label]``."""
    elapsed_s: float = 0.0
    usage: UsageReport = Field(default_factory=UsageReport)
    """Usage of the run up to this save, over every ``optimize`` call it took."""


def fingerprint(
    prompt: str,
    config: APOConfig,
    splits: Sequence[Sequence[Example]],
    extra: str = "",
) -> str:
    """A hash of what a run depends on: prompt, config, example ids of every split, extras."""
    material = {
        "prompt": prompt,
        "config": config.model_dump(mode="json"),
        "splits": [[ex.id for ex in split] for split in splits],
        "extra": extra,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def save_checkpoint(path: str | os.PathLike[str], state: RunState) -> None:
    """Write ``state`` to ``path`` atomically, readable by the owner only."""
    atomic_write_text(path, state.model_dump_json(), mode=0o600)


def load_checkpoint(path: str | os.PathLike[str], expected_fingerprint: str) -> RunState | None:
    """The saved state at ``path``, or ``None`` if there is none.

    Raises:
        ConfigError: the file is not a checkpoint of this run (other prompt, config or data).
    """
    target = Path(path)
    if not target.exists():
        return None
    try:
        state = RunState.model_validate_json(target.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigError(f"{target} is not a valid APO checkpoint: {exc}") from None
    if state.version != CHECKPOINT_VERSION:
        raise ConfigError(
            f"{target} has checkpoint version {state.version}, not {CHECKPOINT_VERSION}"
        )
    if state.fingerprint != expected_fingerprint:
        raise ConfigError(
            f"{target} belongs to another run (different prompt, config or data); "
            "use a new checkpoint path or resume=False"
        )
    return state
