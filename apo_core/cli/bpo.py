"""``apo bpo`` (rewrite), ``apo bpo-pairs`` (training pairs), ``apo bpo-eval`` (pairwise eval)."""

from __future__ import annotations

import json
from pathlib import Path

from apo_core.bpo.data import load_preference_rows, load_prompts
from apo_core.bpo.evaluate import evaluate_pairwise
from apo_core.bpo.pairs import build_pairs
from apo_core.bpo.result import BPOResult
from apo_core.bpo.rewriter import BPORewriter
from apo_core.bpo.sft import write_sft_jsonl
from apo_core.bpo.templates import Mode, Source
from apo_core.cli.common import build_engine, err, out
from apo_core.errors import ConfigError
from apo_core.sync import run_sync


def _describe(result: BPOResult) -> str:
    if result.fallback is None:
        return f"rewritten in {result.rounds_done} round(s)"
    return f"kept the original ({result.fallback}: {result.fallback_detail or ''})"


def rewrite_command(
    instruction: str | None,
    *,
    file: Path | None,
    out_file: Path | None,
    model: str,
    source: Source,
    mode: Mode,
    rounds: int,
    protect: list[str],
    cache: Path | None,
) -> None:
    """Rewrite one instruction (printed) or every prompt of a JSONL/JSON file (written)."""
    if (instruction is None) == (file is None):
        raise ConfigError("give an INSTRUCTION or --file, not both")
    if file is not None and out_file is None:
        raise ConfigError("--file needs --out (where to write the rewrites)")
    engine = build_engine({"default": model}, cache=cache)
    with engine:
        rewriter = BPORewriter(engine, source=source, mode=mode, rounds=rounds, protected=protect)
        if instruction is not None:
            result = run_sync(rewriter.arewrite(instruction))
            out.print(result.rewritten)
            err.print(_describe(result))
            return
        assert file is not None and out_file is not None
        prompts = load_prompts(file)
        results = run_sync(rewriter.arewrite_batch(prompts))
    out_file.parent.mkdir(parents=True, exist_ok=True)
    with out_file.open("w", encoding="utf-8") as handle:
        for result in results:
            handle.write(json.dumps(result.model_dump(mode="json"), ensure_ascii=False) + "\n")
    kept = sum(1 for r in results if r.fallback is not None)
    out.print(f"rewrote {len(results) - kept} of {len(results)} prompts -> {out_file}")
    if kept:
        out.print(f"{kept} kept their original (see 'fallback' in the output)")


def pairs_command(
    source_file: Path,
    out_file: Path,
    *,
    model: str,
    limit: int | None,
    cache: Path | None,
) -> None:
    """Build (instruction, optimized instruction) pairs from preference data, as SFT JSONL."""
    rows = load_preference_rows(source_file)
    if limit is not None:
        rows = rows[:limit]
    engine = build_engine({"default": model}, cache=cache)
    with engine:
        result = run_sync(build_pairs(engine, rows))
    stats_file = out_file.with_suffix(".stats.json")
    written = write_sft_jsonl(result, out_file, stats_path=stats_file)
    dropped = ", ".join(f"{k} {v}" for k, v in sorted(result.stats.dropped.items())) or "none"
    out.print(f"kept {written} of {result.stats.total} rows -> {out_file}")
    out.print(f"dropped: {dropped} (details in {stats_file})")


def eval_command(
    source_file: Path,
    *,
    target: str,
    rewriter_model: str,
    judge: str,
    source: Source,
    mode: Mode,
    limit: int | None,
    out_file: Path | None,
    max_tokens: int,
    cache: Path | None,
) -> None:
    """Answer original and rewritten prompts with the target, judge both orders, report."""
    prompts = load_prompts(source_file)
    if limit is not None:
        prompts = prompts[:limit]
    engine = build_engine(
        {"default": target, "task": target, "rewriter": rewriter_model, "judge": judge},
        cache=cache,
    )
    with engine:
        rewriter = BPORewriter(engine, source=source, mode=mode, max_tokens=max_tokens)
        report = run_sync(
            evaluate_pairwise(
                engine,
                prompts,
                rewriter,
                task_max_tokens=max_tokens,
                judge_max_tokens=max_tokens,
            )
        )
    if out_file is not None:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_text(report.model_dump_json(indent=2), encoding="utf-8")
    out.print(
        f"{report.n} prompts: win {report.wins}, tie {report.ties}, loss {report.losses}; "
        f"win - loss {report.win_minus_loss:+.1f} "
        f"[{report.ci_low:+.1f}, {report.ci_high:+.1f}] at {report.confidence:.0%}"
    )
    out.print(
        f"inconsistent orders {report.inconsistent}, unparsed verdicts {report.unparsed}, "
        f"identical answers {report.identical}, errors {report.errors}; "
        f"calls {report.usage.total.calls}, ${report.cost_usd:.4f}"
    )
    if report.stopped_by_budget:
        out.print("stopped by the budget: the figures cover the prompts judged so far")
