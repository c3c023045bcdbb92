"""BPO on Vicuna Eval: rewrite each question, answer both versions, judge both orders.

Reports win/tie/loss of the rewritten prompts, win - loss with a bootstrap CI, usage and cost.
Every role uses the embedded SmolLM2 unless told otherwise; ``--base-url``/``--model`` point
all roles at an OpenAI-compatible server, and per-role options override single roles. With
``--rewriter-source bpo_model`` the rewriter is THUDM/BPO behind a completions endpoint.

    python benchmarks/bpo_vicuna.py --limit 5
    python benchmarks/bpo_vicuna.py --base-url http://127.0.0.1:8000/v1 --model llama-3-8b \\
        --rewriter-source bpo_model --rewriter-base-url http://127.0.0.1:8001/v1 \\
        --rewriter-model THUDM/BPO --judge-model gpt-4o-mini --judge-base-url https://api.openai.com/v1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from apo_core import Budget, ChatModel, Engine, OpenAIChatModel
from apo_core.bpo import BPORewriter, evaluate_pairwise, load_prompts
from apo_core.bpo.evaluate import PairwiseReport
from apo_core.bpo.judge import structured_verdicts
from apo_core.models import OpenAICompletionModel

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "bpo" / "vicuna_eval.jsonl"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="vicuna_eval.jsonl")
    p.add_argument("--limit", type=int, default=None, help="use the first N questions")
    p.add_argument("--base-url", help="OpenAI-compatible server for every role")
    p.add_argument("--model", help="model name at --base-url for every role")
    for role in ("target", "rewriter", "judge"):
        p.add_argument(f"--{role}-model", help=f"model name for the {role} role")
        p.add_argument(f"--{role}-base-url", help=f"server for the {role} role")
    p.add_argument("--rewriter-source", choices=("meta_prompt", "bpo_model"), default="meta_prompt")
    p.add_argument("--mode", choices=("stable", "aggressive"), default="stable")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--rewrite-max-tokens", type=int, default=None)
    p.add_argument("--answer-max-tokens", type=int, default=256)
    p.add_argument("--judge-max-tokens", type=int, default=256)
    p.add_argument("--max-dollars", type=float, default=None, help="stop cleanly past this spend")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--cache", type=Path, default=None, help="SQLite response cache (resume)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--judge-format",
        choices=("auto", "text", "json"),
        default="auto",
        help="judge verdict as pair-v2 [[A]] text or a JSON object (schema sent to the backend);\n"
        "auto: json for the embedded judge (it rarely writes [[A]]), text otherwise",
    )
    p.add_argument("--output", type=Path, default=None, help="write the full report (JSON)")
    p.add_argument("--output-md", type=Path, default=None, help="write the figures (Markdown)")
    return p.parse_args(argv)


def role_model(args: argparse.Namespace, role: str) -> ChatModel | None:
    """The model for ``role``: per-role options, then the shared ones; None = embedded."""
    name = getattr(args, f"{role}_model") or args.model
    base_url = getattr(args, f"{role}_base_url") or args.base_url
    if role == "rewriter" and args.rewriter_source == "bpo_model":
        if not base_url:
            sys.exit("--rewriter-source bpo_model needs --rewriter-base-url (or --base-url)")
        return OpenAICompletionModel(name or "THUDM/BPO", base_url=base_url)
    if name is None and base_url is None:
        return None
    if name is None:
        sys.exit(f"--{role}-base-url/--base-url needs a model name (--{role}-model or --model)")
    return OpenAIChatModel(name, base_url=base_url)


async def run(args: argparse.Namespace) -> int:
    if not args.data.is_file():
        print(
            f"error: Vicuna Eval data not found at {args.data}\n"
            "pass --data PATH/vicuna_eval.jsonl (from thu-coai/BPO, data/testset/)",
            file=sys.stderr,
        )
        return 2
    prompts = load_prompts(args.data, key="text")[: args.limit]
    roles = {
        role: model
        for role, key in (("task", "target"), ("rewriter", "rewriter"), ("judge", "judge"))
        if (model := role_model(args, key)) is not None
    }
    engine = Engine(
        roles=roles,
        cache=args.cache,
        budget=Budget(max_dollars=args.max_dollars),
        max_concurrency=args.concurrency,
        timeout=900,
    )
    rewriter = BPORewriter(
        engine,
        source=args.rewriter_source,
        mode=args.mode,
        rounds=args.rounds,
        max_tokens=args.rewrite_max_tokens,
        seed=args.seed,
    )
    names = {r: engine.model_for(r).model_id for r in ("task", "rewriter", "judge")}
    structured_judge = structured_verdicts(args.judge_format, engine.model_for("judge"))
    print(f"{len(prompts)} questions from {args.data.name}; models: {names}", flush=True)
    started = time.monotonic()
    with engine:
        report = await evaluate_pairwise(
            engine,
            prompts,
            rewriter,
            task_max_tokens=args.answer_max_tokens,
            judge_max_tokens=args.judge_max_tokens,
            seed=args.seed,
            structured_judge=structured_judge,
        )
    elapsed = time.monotonic() - started
    print(report.summary())
    print(f"rewrites: {rewriter.stats.model_dump()}")
    print(f"usage: {json.dumps(report.usage.total.model_dump())}")
    print(f"wall time: {elapsed:.1f}s")
    if args.output_md is not None:
        args.output_md.write_text(
            markdown(args, names, structured_judge, rewriter, report, elapsed)
        )
        print(f"figures written to {args.output_md}")
    if args.output is not None:
        payload = {
            "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "models": names,
            "rewrites": rewriter.stats.model_dump(),
            "report": report.model_dump(),
        }
        args.output.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        print(f"report written to {args.output}")
    return 0


def markdown(
    args: argparse.Namespace,
    names: dict[str, str],
    structured_judge: bool,
    rewriter: BPORewriter,
    report: PairwiseReport,
    elapsed: float,
) -> str:
    """The run's figures as a Markdown section (for benchmarks/results/)."""
    stats = rewriter.stats
    fallbacks = ", ".join(f"{k} {v}" for k, v in sorted(stats.fallbacks.items())) or "none"
    total = report.usage.total
    rows = [
        ("questions", f"{report.n} of {args.data.name} ({report.errors} failed)"),
        ("models (target / rewriter / judge)", " / ".join(names[r] for r in names)),
        ("rewriter", f"{args.rewriter_source}, {args.mode} mode, {args.rounds} round(s)"),
        ("judge verdict format", "JSON object" if structured_judge else "pair-v2 [[A]] text"),
        ("rewrites accepted", f"{stats.rewritten} of {stats.prompts}; fallbacks: {fallbacks}"),
        ("win / tie / loss", f"{report.wins} / {report.ties} / {report.losses}"),
        (
            "win - loss",
            f"{report.win_minus_loss:+.1f} [{report.ci_low:+.1f}, {report.ci_high:+.1f}] "
            f"({report.confidence:.0%} bootstrap CI)",
        ),
        (
            "judge",
            f"{report.inconsistent} pairs flipped with the order (position bias, tie), "
            f"{report.unparsed} unreadable verdicts, {report.identical} identical answers",
        ),
        ("LLM calls / tokens", f"{total.calls:,} / {total.input_tokens + total.output_tokens:,}"),
        ("wall time", f"{elapsed:.0f} s"),
    ]
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    return (
        "# BPO pairwise evaluation on Vicuna Eval\n\n"
        "Generated by `benchmarks/bpo_vicuna.py`: each question is rewritten, the target "
        "answers the original and the rewrite, the judge compares both answers to the "
        "original question in both orders (a win needs both orders to agree).\n\n"
        f"| | |\n|---|---|\n{table}\n"
    )


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
