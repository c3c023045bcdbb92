"""APO = ProTeGi: meta-prompts, parsing, protection, expansion, selection and search.

``APO(engine, **config).optimize(prompt, train=..., validation=..., metric=...)`` runs the
beam search and returns an :class:`APOResult`; :func:`estimate_calls` tells beforehand how many
LLM calls per role a configuration needs at most.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apo_core.apo.checkpoint import RunState, load_checkpoint, save_checkpoint
    from apo_core.apo.config import APOConfig, derive_seed
    from apo_core.apo.estimate import CallEstimate, RoundEstimate, estimate_calls
    from apo_core.apo.parsing import GradientReply, PromptsReply, parse_items
    from apo_core.apo.protection import Checked, PromptGuard, escape_stray_braces, normalize
    from apo_core.apo.result import (
        APOResult,
        BeamEntry,
        Candidate,
        ExpansionCounts,
        RoundRecord,
        ScoreCI,
        SelectionStats,
        SplitScores,
    )
    from apo_core.apo.search import APO

_EXPORTS = {
    "APO": "apo_core.apo.search",
    "APOConfig": "apo_core.apo.config",
    "APOResult": "apo_core.apo.result",
    "BeamEntry": "apo_core.apo.result",
    "CallEstimate": "apo_core.apo.estimate",
    "Candidate": "apo_core.apo.result",
    "Checked": "apo_core.apo.protection",
    "ExpansionCounts": "apo_core.apo.result",
    "GradientReply": "apo_core.apo.parsing",
    "PromptGuard": "apo_core.apo.protection",
    "PromptsReply": "apo_core.apo.parsing",
    "RoundEstimate": "apo_core.apo.estimate",
    "RoundRecord": "apo_core.apo.result",
    "RunState": "apo_core.apo.checkpoint",
    "ScoreCI": "apo_core.apo.result",
    "SelectionStats": "apo_core.apo.result",
    "SplitScores": "apo_core.apo.result",
    "derive_seed": "apo_core.apo.config",
    "escape_stray_braces": "apo_core.apo.protection",
    "estimate_calls": "apo_core.apo.estimate",
    "load_checkpoint": "apo_core.apo.checkpoint",
    "normalize": "apo_core.apo.protection",
    "parse_items": "apo_core.apo.parsing",
    "save_checkpoint": "apo_core.apo.checkpoint",
}


def __getattr__(name: str) -> Any:
    """Import exported names on first use (keeps ``import apo_core.apo.selection`` light)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "APO",
    "APOConfig",
    "APOResult",
    "BeamEntry",
    "CallEstimate",
    "Candidate",
    "Checked",
    "ExpansionCounts",
    "GradientReply",
    "PromptGuard",
    "PromptsReply",
    "RoundEstimate",
    "RoundRecord",
    "RunState",
    "ScoreCI",
    "SelectionStats",
    "SplitScores",
    "derive_seed",
    "escape_stray_braces",
    "estimate_calls",
    "load_checkpoint",
    "normalize",
    "parse_items",
    "save_checkpoint",
]
