"""Benchmark: APO (ProTeGi) on LIAR, initial vs optimized prompt on held-out test examples.

Usage::

    python benchmarks/apo_liar.py                          # embedded SmolLM2-135M, small sizes
    python benchmarks/apo_liar.py --base-url http://127.0.0.1:8000/v1 --model my-model \\
        --train 200 --validation 50 --test 200 --rounds 3 --beam 4

Data: ``liar/train.jsonl`` and ``liar/test.jsonl`` (``{"label": 0|1, "text": ...}``, label 1 =
the statement is a lie), by default in ``../shared/data/liar`` next to the repository. Train
and validation examples are drawn (seeded) from train.jsonl, test examples from test.jsonl;
the test examples are scored once, after the search. Prints accuracy, F1 (positive = lie) and
macro F1 with 95% bootstrap intervals, and LLM calls and tokens per role; ``--output`` writes
the APOResult JSON, ``--output-md`` the same figures as a Markdown block (benchmarks/results/).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

from apo_core import Engine, OpenAIChatModel
from apo_core.apo import APO, APOConfig, APOResult, ScoreCI, SplitScores, estimate_calls
from apo_core.data import Dataset, Example
from apo_core.metrics import LabelAccuracy
from apo_core.program import TemplateProgram

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "liar"
START_PROMPT = (
    "Decide whether the statement below is a lie.\n\n{text}\n\n"
    "Answer Yes if it is a lie and No if it is not.\nAnswer:"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with the LIAR files")
    p.add_argument("--base-url", help="an OpenAI-compatible server (default: embedded model)")
    p.add_argument("--model", help="model name on that server (required with --base-url)")
    p.add_argument("--optimizer-model", help="another model on the server for the optimizer")
    p.add_argument("--train", type=int, default=40, help="train examples (minibatches)")
    p.add_argument("--validation", type=int, default=16, help="validation examples")
    p.add_argument("--test", type=int, default=30, help="test examples (scored once)")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--beam", type=int, default=2)
    p.add_argument("--minibatch", type=int, default=8)
    p.add_argument("--gradients", type=int, default=2, help="n_gradients per parent")
    p.add_argument("--errors-per-gradient", type=int, default=4)
    p.add_argument("--mc", type=int, default=1, help="paraphrases per new prompt")
    p.add_argument("--expansion", type=int, default=8, help="max successors per parent")
    p.add_argument("--selector", default="ucb")
    p.add_argument("--eval-budget", type=int, default=16, help="selection pulls per round")
    p.add_argument("--task-max-tokens", type=int, default=8)
    p.add_argument("--optimizer-max-tokens", type=int, default=256)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", type=Path, help="SQLite response cache (re-runs replay free)")
    p.add_argument("--checkpoint", type=Path, help="checkpoint file; resumes if it exists")
    p.add_argument("--output", type=Path, help="write the APOResult JSON here")
    p.add_argument("--output-md", type=Path, help="write the figures as Markdown here")
    args = p.parse_args(argv)
    if args.base_url and not args.model:
        p.error("--model is required with --base-url")
    return args


def load_liar(folder: Path, args: argparse.Namespace) -> tuple[list[Example], ...]:
    """Seeded train/validation draws from train.jsonl and a test draw from test.jsonl."""
    rng = random.Random(args.seed)
    pool = list(Dataset.from_jsonl(folder / "train.jsonl", input_keys=["text"]))
    rng.shuffle(pool)
    test = list(Dataset.from_jsonl(folder / "test.jsonl", input_keys=["text"]))
    rng.shuffle(test)
    train = pool[: args.train]
    validation = pool[args.train : args.train + args.validation]
    return train, validation, test[: args.test]


def make_engine(args: argparse.Namespace) -> Engine:
    if not args.base_url:
        return Engine(cache=args.cache, max_concurrency=args.concurrency, seed=args.seed)
    task = OpenAIChatModel(args.model, base_url=args.base_url)
    roles = {"task": task, "optimizer": task}
    if args.optimizer_model:
        roles["optimizer"] = OpenAIChatModel(args.optimizer_model, base_url=args.base_url)
    return Engine(
        task, roles=roles, cache=args.cache, max_concurrency=args.concurrency, seed=args.seed
    )


def fmt(score: ScoreCI | None) -> str:
    if score is None:
        return "n/a"
    return f"{score.value:.3f} [{score.low:.3f}, {score.high:.3f}]"


def score_rows(result: APOResult) -> list[tuple[str, str, SplitScores | None]]:
    """(split, prompt, scores) for the initial and the optimized prompt on both splits."""
    return [
        ("validation", "initial", result.initial_validation),
        ("validation", "optimized", result.best_validation),
        ("TEST", "initial", result.initial_test),
        ("TEST", "optimized", result.best_test),
    ]


def cells(scores: SplitScores | None) -> list[str]:
    """Accuracy, F1 (lie), macro F1 and the answers that stated no label."""
    if scores is None:
        return ["n/a"] * 4
    no_label = "n/a" if scores.no_label is None else str(scores.no_label)
    return [fmt(scores.accuracy), fmt(scores.f1), fmt(scores.macro_f1), no_label]


def model_name(args: argparse.Namespace) -> str:
    if not args.base_url:
        return "embedded SmolLM2-135M-Instruct"
    optimizer = f" (optimizer {args.optimizer_model})" if args.optimizer_model else ""
    return f"{args.model}{optimizer}"


def report(result: APOResult, elapsed: float) -> None:
    print(
        f"\nstopped by: {result.stopped_by} after {result.rounds_completed} round(s), "
        f"{elapsed:.1f}s"
    )
    for h in result.history:
        c = h.counts
        print(
            f"round {h.round + 1}: {len(h.candidates)} candidates, {len(h.gradients)} "
            f"gradients, {len(h.edits)} edits, {c.parse_failures} unparsable replies, "
            f"{c.repaired} repaired, {c.rejected} rejected, "
            f"best validation {h.best_validation:.3f}"
        )
    print(f"best prompt:\n---\n{result.best_prompt}\n---")
    heads = ("accuracy (95% CI)", "F1 lie (95% CI)", "macro F1 (95% CI)", "no label")
    print(f"{'':22}" + "".join(f"{h:>26}" for h in heads))
    for split, prompt, scores in score_rows(result):
        print(f"{split + ' ' + prompt:22}" + "".join(f"{c:>26}" for c in cells(scores)))
    print(f"\n{'role':12}{'calls':>8}{'cache hits':>12}{'in tokens':>12}{'out tokens':>12}")
    for role, line in sorted(result.usage.by_role.items()):
        print(
            f"{role:12}{line.calls:>8}{line.cache_hits:>12}"
            f"{line.input_tokens:>12}{line.output_tokens:>12}"
        )
    for note in result.notes:
        print(f"note: {note}")


def markdown(
    result: APOResult, args: argparse.Namespace, sizes: tuple[int, ...], elapsed: float
) -> str:
    """The figures of one run as a Markdown block for benchmarks/results/."""
    cfg = result.config
    train, validation, test = sizes
    lines = [
        f"## APO on LIAR: {model_name(args)}",
        "",
        f"{train} train, {validation} validation and {test} test examples (seed {cfg.seed}); "
        f"{cfg.rounds} round(s), beam {cfg.beam_size}, minibatch {cfg.minibatch_size}, "
        f"{cfg.n_gradients} gradients x {cfg.errors_per_gradient} errors, "
        f"{cfg.mc_samples_per_step} paraphrase(s), selector {cfg.selector} "
        f"({cfg.eval_budget} pulls per round). Stopped by {result.stopped_by} after "
        f"{result.rounds_completed} round(s) in {elapsed:.0f} s. 95% bootstrap intervals; "
        'F1 is of the label 1 (a lie); "no label" counts answers that stated neither label.',
        "",
        "| split | prompt | accuracy | F1 (lie) | macro F1 | no label |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for split, prompt, scores in score_rows(result):
        lines.append(f"| {split.lower()} | {prompt} | " + " | ".join(cells(scores)) + " |")
    lines += [
        "",
        "| role | calls | cache hits | input tokens | output tokens |",
        "|---|---:|---:|---:|---:|",
    ]
    for role, line in sorted(result.usage.by_role.items()):
        lines.append(
            f"| {role} | {line.calls:,} | {line.cache_hits:,} | {line.input_tokens:,} | "
            f"{line.output_tokens:,} |"
        )
    lines += ["", "Optimized prompt:", "", "```text", result.best_prompt, "```"]
    lines += [f"\nNote: {note}" for note in result.notes]
    return "\n".join(lines) + "\n"


async def main(args: argparse.Namespace) -> int:
    folder: Path = args.data
    if not (folder / "train.jsonl").is_file() or not (folder / "test.jsonl").is_file():
        print(
            f"LIAR data not found in {folder} (need train.jsonl and test.jsonl); pass --data PATH",
            file=sys.stderr,
        )
        return 2
    train, validation, test = load_liar(folder, args)
    config = APOConfig(
        rounds=args.rounds,
        beam_size=args.beam,
        minibatch_size=args.minibatch,
        n_gradients=args.gradients,
        errors_per_gradient=args.errors_per_gradient,
        mc_samples_per_step=args.mc,
        max_expansion_factor=args.expansion,
        selector=args.selector,
        eval_budget=args.eval_budget,
        optimizer_max_tokens=args.optimizer_max_tokens,
        seed=args.seed,
    )
    estimate = estimate_calls(
        config, train_size=len(train), validation_size=len(validation), test_size=len(test)
    )
    print(
        f"LIAR: {len(train)} train, {len(validation)} validation, {len(test)} test; "
        f"at most {estimate.by_role} calls"
    )
    engine = make_engine(args)
    metric = LabelAccuracy({1: ["yes"], 0: ["no"]})
    started = time.monotonic()
    with engine:
        result = await APO(engine, config).optimize(
            START_PROMPT,
            train=train,
            validation=validation,
            test=test,
            metric=metric,
            program=TemplateProgram(max_tokens=args.task_max_tokens),
            checkpoint=args.checkpoint,
            resume=args.checkpoint is not None,
            positive_label=1,
        )
    elapsed = time.monotonic() - started
    report(result, elapsed)
    if args.output:
        result.to_json(args.output)
    if args.output_md:
        sizes = (len(train), len(validation), len(test))
        args.output_md.write_text(markdown(result, args, sizes, elapsed), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
