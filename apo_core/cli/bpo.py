"""``apo bpo`` (rewrite), ``apo bpo-pairs`` (training pairs), ``apo bpo-eval`` (pairwise eval)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from apo_core.bpo.data import load_preference_rows, load_prompts
from apo_core.bpo.evaluate import evaluate_pairwise
from apo_core.bpo.judge import JudgeFormat, structured_verdicts
from apo_core.bpo.pairs import build_pairs
from apo_core.bpo.result import BPOResult
from apo_core.bpo.rewriter import BPORewriter
from apo_core.bpo.sft import write_sft_jsonl
from apo_core.bpo.templates import Mode, Source
from apo_core.cli.common import build_engine, err, out
from apo_core.errors import ConfigError
from apo_core.sync import run_sync

PROMPT_FIELDS = ("instruction", "context")
PAIR_FIELDS = ("instruction", "context", "good", "bad")


def parse_keys(values: Sequence[str], fields: Sequence[str]) -> dict[str, str]:
    """``--key field=name`` options as a mapping; a clear error for anything else."""
    keys: dict[str, str] = {}
    for value in values:
        field, sep, name = (part.strip() for part in value.partition("="))
        if not sep or not name or field not in fields:
            raise ConfigError(
                f"--key {value!r} must be FIELD=NAME with FIELD one of {', '.join(fields)}, "
                "e.g. --key instruction=question"
            )
        keys[field] = name
    return keys


def check_source(source: Source, spec: str, flag: str) -> None:
    """``bpo_model`` sends a raw Llama-2 template: refuse chat-model specs before loading them."""
    kind = spec.strip().partition(":")[0]
    if source == "bpo_model" and kind in ("local", "openai"):
        raise ConfigError(
            f"--source bpo_model sends THUDM/BPO's raw '[INST] ... [/INST]' template, which a "
            f"chat model ({flag} {spec}) would answer as a message; serve THUDM/BPO behind a "
            f"completions endpoint and pass {flag} completion:THUDM/BPO@http://HOST:PORT/v1, "
            "or use --source meta_prompt"
        )


def _prompts(file: Path, keys: dict[str, str]) -> list[str]:
    prompts = load_prompts(file, key=keys.get("instruction"), context_key=keys.get("context"))
    if not prompts:
        raise ConfigError(f"{file} holds no prompts")
    return prompts


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
    keys: Sequence[str] = (),
) -> None:
    """Rewrite one instruction (printed) or every prompt of a JSONL/JSON file (written)."""
    if instruction is None and file is None:
        raise ConfigError("nothing to rewrite: give an INSTRUCTION, or --file with prompts")
    if instruction is not None and file is not None:
        raise ConfigError("give an INSTRUCTION or --file, not both")
    if file is not None and out_file is None:
        raise ConfigError("--file needs --out (where to write the rewrites)")
    check_source(source, model, "--model")
    prompts = _prompts(file, parse_keys(keys, PROMPT_FIELDS)) if file is not None else []
    engine = build_engine({"default": model}, cache=cache)
    with engine:
        rewriter = BPORewriter(engine, source=source, mode=mode, rounds=rounds, protected=protect)
        if instruction is not None:
            result = run_sync(rewriter.arewrite(instruction))
            out.print(result.rewritten)
            err.print(_describe(result))
            return
        assert out_file is not None
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
    keys: Sequence[str] = (),
) -> None:
    """Build (instruction, optimized instruction) pairs from preference data, as SFT JSONL."""
    rows = load_preference_rows(source_file, keys=parse_keys(keys, PAIR_FIELDS))
    if not rows:
        raise ConfigError(f"{source_file} holds no preference records")
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
    rounds: int = 1,
    seed: int = 0,
    keys: Sequence[str] = (),
    judge_format: JudgeFormat = "auto",
) -> None:
    """Answer original and rewritten prompts with the target, judge both orders, report."""
    check_source(source, rewriter_model, "--rewriter")
    prompts = _prompts(source_file, parse_keys(keys, PROMPT_FIELDS))
    if limit is not None:
        prompts = prompts[:limit]
    engine = build_engine(
        {"default": target, "task": target, "rewriter": rewriter_model, "judge": judge},
        cache=cache,
    )
    with engine:
        rewriter = BPORewriter(engine, source=source, mode=mode, rounds=rounds, seed=seed)
        report = run_sync(
            evaluate_pairwise(
                engine,
                prompts,
                rewriter,
                task_max_tokens=max_tokens,
                judge_max_tokens=max_tokens,
                seed=seed,
                structured_judge=structured_verdicts(judge_format, engine.model_for("judge")),
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
