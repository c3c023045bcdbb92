"""Writing BPO pairs as supervised fine-tuning data: chat-format JSONL plus build statistics.

Each record is ``{"messages": [user, assistant]}``: the user turn is THUDM/BPO's instruction
followed by the original prompt (the release's template without Llama-2's ``[INST]`` tags, so
any chat template can wrap it), the assistant turn is the optimized prompt.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from apo_core.bpo.pairs import BPOPair, PairResult
from apo_core.bpo.templates import BPO_INSTRUCTION


def sft_record(pair: BPOPair, *, system: str | None = None) -> dict[str, Any]:
    """One chat-format training record for ``pair``."""
    messages = [
        {"role": "user", "content": BPO_INSTRUCTION + pair.prompt},
        {"role": "assistant", "content": pair.optimized_prompt},
    ]
    if system:
        messages.insert(0, {"role": "system", "content": system})
    return {"messages": messages}


def write_sft_jsonl(
    pairs: PairResult | Sequence[BPOPair],
    path: str | Path,
    *,
    system: str | None = None,
    stats_path: str | Path | None = None,
) -> int:
    """Write one record per pair to ``path`` (UTF-8 JSONL); return how many were written.

    With a :class:`PairResult` and ``stats_path``, the kept/dropped counts and every dropped
    row's reason are written there as JSON.
    """
    items = pairs.pairs if isinstance(pairs, PairResult) else list(pairs)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for pair in items:
            out.write(json.dumps(sft_record(pair, system=system), ensure_ascii=False) + "\n")
    if stats_path is not None and isinstance(pairs, PairResult):
        report = {
            "stats": pairs.stats.model_dump(),
            "dropped": [d.model_dump() for d in pairs.dropped],
        }
        Path(stats_path).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return len(items)
