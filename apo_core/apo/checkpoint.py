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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from apo_core.apo.config import APOConfig
from apo_core.apo.files import atomic_write_text
from apo_core.apo.result import BeamEntry, RoundRecord, SplitScores, StoppedBy
from apo_core.engine import UsageReport
from apo_core.errors import ConfigError

if TYPE_CHECKING:
    from apo_core.data import Example

CHECKPOINT_VERSION = 2
"""2: memo rows carry the stated label, the run's usage is kept, the metric is fingerprinted."""


class RunState(BaseModel):
    """Everything needed to continue a run after its last completed round."""

    version: int = CHECKPOINT_VERSION
    fingerprint: str
    fingerprint_parts: dict[str, str] = Field(default_factory=dict)
    """The hash of each part of :attr:`fingerprint` (to say what differs)."""
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


class Fingerprint(BaseModel):
    """What a run depends on, hashed: one hash per part and one of them all."""

    value: str
    parts: dict[str, str]
    """``prompt``, ``config``, ``data``, ``program``, ``metric`` -> a hash of each."""


def _hash(material: object) -> str:
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def fingerprint(
    prompt: str,
    config: APOConfig,
    splits: Sequence[Sequence[Example]],
    program: str = "",
    metric: str = "",
    models: Mapping[str, str] | None = None,
) -> Fingerprint:
    """Hashes of what a run depends on: prompt, config, example ids of every split, the
    program's and the metric's identity (e.g. :func:`~apo_core.metrics.metric_identity`), and
    the models of the roles (:meth:`~apo_core.engine.Engine.model_identities`): scores made
    by one task model must not be resumed with another."""
    parts = {
        "prompt": _hash(prompt),
        "config": _hash(config.model_dump(mode="json")),
        "data": _hash([[ex.id for ex in split] for split in splits]),
        "program": _hash(program),
        "metric": _hash(metric),
        "models": _hash(dict(models or {})),
    }
    return Fingerprint(value=_hash(parts), parts=parts)


def save_checkpoint(path: str | os.PathLike[str], state: RunState) -> None:
    """Write ``state`` to ``path`` atomically, readable by the owner only."""
    atomic_write_text(path, state.model_dump_json(), mode=0o600)


def load_checkpoint(path: str | os.PathLike[str], expected: Fingerprint | str) -> RunState | None:
    """The saved state at ``path``, or ``None`` if there is none.

    Args:
        path: the checkpoint file.
        expected: the fingerprint of the run that wants to resume.

    Raises:
        ConfigError: the file is not a checkpoint of this run (other prompt, config, data,
            program, metric or models: the message says which), or of another checkpoint version.
    """
    target = Path(path)
    if not target.exists():
        return None
    try:
        raw = json.loads(target.read_text(encoding="utf-8"))
        version = raw.get("version") if isinstance(raw, dict) else None
        if version is not None and version != CHECKPOINT_VERSION:
            raise ConfigError(
                f"{target} has checkpoint version {version}, and this apo-bpo reads version "
                f"{CHECKPOINT_VERSION}; start afresh (resume=False) or use a new checkpoint path"
            )
        state = RunState.model_validate(raw)
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{target} is not a valid APO checkpoint: {exc}") from None
    if isinstance(expected, str):
        expected = Fingerprint(value=expected, parts={})
    if state.fingerprint != expected.value:
        differ = [k for k, v in expected.parts.items() if state.fingerprint_parts.get(k) != v]
        singular = len(differ) == 1 and differ != ["models"]
        what = (
            f"its {' and '.join(differ)} {'differs' if singular else 'differ'}"
            if differ
            else "a different prompt, config, data, program, metric or models"
        )
        raise ConfigError(
            f"{target} belongs to another run ({what}); use a new checkpoint path or resume=False"
        )
    return state
