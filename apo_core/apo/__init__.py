"""APO = ProTeGi: meta-prompts, parsing, protection, expansion, selection and search.

``APO(engine, **config).optimize(prompt, train=..., validation=..., metric=...)`` runs the
beam search and returns an :class:`APOResult`; :func:`estimate_calls` tells beforehand how many
LLM calls per role a configuration needs at most.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apo_core.apo.ascent import coordinate_ascent, step_checkpoint
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
    from apo_core.apo.selection import (
        UCB,
        UCBE,
        BruteForce,
        Pull,
        SelectionResult,
        Selector,
        SuccessiveHalving,
        SuccessiveRejects,
        make_selector,
    )
    from apo_core.program import PromptProgram, TemplateProgram

_EXPORTS = {
    "APO": "apo_core.apo.search",
    "APOConfig": "apo_core.apo.config",
    "APOResult": "apo_core.apo.result",
    "BeamEntry": "apo_core.apo.result",
    "BruteForce": "apo_core.apo.selection",
    "CallEstimate": "apo_core.apo.estimate",
    "Candidate": "apo_core.apo.result",
    "Checked": "apo_core.apo.protection",
    "ExpansionCounts": "apo_core.apo.result",
    "GradientReply": "apo_core.apo.parsing",
    "PromptGuard": "apo_core.apo.protection",
    "PromptProgram": "apo_core.program",
    "PromptsReply": "apo_core.apo.parsing",
    "Pull": "apo_core.apo.selection",
    "RoundEstimate": "apo_core.apo.estimate",
    "RoundRecord": "apo_core.apo.result",
    "RunState": "apo_core.apo.checkpoint",
    "ScoreCI": "apo_core.apo.result",
    "SelectionResult": "apo_core.apo.selection",
    "SelectionStats": "apo_core.apo.result",
    "Selector": "apo_core.apo.selection",
    "SplitScores": "apo_core.apo.result",
    "SuccessiveHalving": "apo_core.apo.selection",
    "SuccessiveRejects": "apo_core.apo.selection",
    "TemplateProgram": "apo_core.program",
    "UCB": "apo_core.apo.selection",
    "UCBE": "apo_core.apo.selection",
    "coordinate_ascent": "apo_core.apo.ascent",
    "derive_seed": "apo_core.apo.config",
    "escape_stray_braces": "apo_core.apo.protection",
    "estimate_calls": "apo_core.apo.estimate",
    "load_checkpoint": "apo_core.apo.checkpoint",
    "make_selector": "apo_core.apo.selection",
    "normalize": "apo_core.apo.protection",
    "parse_items": "apo_core.apo.parsing",
    "save_checkpoint": "apo_core.apo.checkpoint",
    "step_checkpoint": "apo_core.apo.ascent",
}


def __getattr__(name: str) -> Any:
    """Import exported names on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "APO",
    "UCB",
    "UCBE",
    "APOConfig",
    "APOResult",
    "BeamEntry",
    "BruteForce",
    "CallEstimate",
    "Candidate",
    "Checked",
    "ExpansionCounts",
    "GradientReply",
    "PromptGuard",
    "PromptProgram",
    "PromptsReply",
    "Pull",
    "RoundEstimate",
    "RoundRecord",
    "RunState",
    "ScoreCI",
    "SelectionResult",
    "SelectionStats",
    "Selector",
    "SplitScores",
    "SuccessiveHalving",
    "SuccessiveRejects",
    "TemplateProgram",
    "coordinate_ascent",
    "derive_seed",
    "escape_stray_braces",
    "estimate_calls",
    "load_checkpoint",
    "make_selector",
    "normalize",
    "parse_items",
    "save_checkpoint",
    "step_checkpoint",
]
