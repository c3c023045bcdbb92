"""BPO (Black-box Prompt Optimization, Cheng et al. 2023): rewriter, pair construction, evaluation.

Prompts are rewritten by the released THUDM/BPO model (through an OpenAI-compatible completions
endpoint) or by any chat model with a BPO-style meta-prompt; the embedded model is the default.
"""

from apo_core.bpo.data import PreferenceRow, load_preference_rows, load_prompts
from apo_core.bpo.evaluate import PairwiseItem, PairwiseReport, evaluate_pairwise
from apo_core.bpo.guard import Guard, Reason, Rejection
from apo_core.bpo.judge import JUDGE_SYSTEM, parse_verdict
from apo_core.bpo.pairs import BPOPair, DroppedRow, PairResult, PairStats, build_pairs
from apo_core.bpo.protect import DEFAULT_MARKERS, ProtectedPrompt, protect
from apo_core.bpo.protocol import Rewrite, Rewriter, as_rewriter
from apo_core.bpo.result import BPOResult, BPORound, BPOStats
from apo_core.bpo.rewriter import BPORewriter, choose_candidate
from apo_core.bpo.sft import sft_record, write_sft_jsonl
from apo_core.bpo.templates import (
    BANNED_MARKERS,
    BPO_TEMPLATE,
    META_EXAMPLES,
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
    "JUDGE_SYSTEM",
    "META_EXAMPLES",
    "META_SYSTEM",
    "MODES",
    "BPOPair",
    "BPOResult",
    "BPORewriter",
    "BPORound",
    "BPOStats",
    "DroppedRow",
    "Guard",
    "Mode",
    "ModeSettings",
    "PairResult",
    "PairStats",
    "PairwiseItem",
    "PairwiseReport",
    "PreferenceRow",
    "ProtectedPrompt",
    "Reason",
    "Rejection",
    "Rewrite",
    "Rewriter",
    "Source",
    "as_rewriter",
    "bpo_prompt",
    "build_pairs",
    "choose_candidate",
    "evaluate_pairwise",
    "load_preference_rows",
    "load_prompts",
    "meta_prompt_messages",
    "parse_verdict",
    "protect",
    "sft_record",
    "write_sft_jsonl",
]
