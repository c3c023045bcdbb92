"""BPO (Black-box Prompt Optimization, Cheng et al. 2023): rewriter, pair construction, evaluation.

Prompts are rewritten by the released THUDM/BPO model (through an OpenAI-compatible completions
endpoint) or by any chat model with a BPO-style meta-prompt; the embedded model is the default.
"""

from apo_core.bpo.guard import Guard, Reason, Rejection
from apo_core.bpo.protect import DEFAULT_MARKERS, ProtectedPrompt, protect
from apo_core.bpo.result import BPOResult, BPORound, BPOStats
from apo_core.bpo.rewriter import BPORewriter, choose_candidate
from apo_core.bpo.templates import (
    BANNED_MARKERS,
    BPO_TEMPLATE,
    META_SYSTEM,
    MODES,
    Mode,
    ModeSettings,
    Source,
    bpo_prompt,
    meta_prompt_messages,
)

__all__ = [
    "BANNED_MARKERS",
    "BPO_TEMPLATE",
    "DEFAULT_MARKERS",
    "META_SYSTEM",
    "MODES",
    "BPOResult",
    "BPORewriter",
    "BPORound",
    "BPOStats",
    "Guard",
    "Mode",
    "ModeSettings",
    "ProtectedPrompt",
    "Reason",
    "Rejection",
    "Source",
    "bpo_prompt",
    "choose_candidate",
    "meta_prompt_messages",
    "protect",
]
