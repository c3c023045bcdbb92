"""APO speed, call efficiency and memory against a simulated provider, in one run.

Run: ``python benchmarks/apo_speed.py`` (about 2 minutes on 2 cores; ``--help`` for sizes).

(a) an APO run (OpenAIChatModel -> HTTP -> FakeOpenAIServer with ``--latency`` per call;
LIAR-like config: 2 rounds, beam 4, minibatch 16, brute-force selection with 64 pulls, 20
validation and 20 test examples, concurrency 32) against the critical path of its own calls;
(b) the same run at concurrency 1; (c) the run again on (a)'s cache; (d) calls and tokens per
role against the ProTeGi release (microsoft/LMOps) for the same rounds and beam; (e) peak
memory and time per round as train grows, on an instant in-process backend.

Critical path: the run has barrier stages (initial validation; per round expand -> select ->
validate; test). A stage of ``n`` calls of depth ``d`` (expand: minibatch -> gradient -> edit ->
paraphrase, so d = 4; others d = 1) needs at least ``max(d, ceil(n / C)) * L`` seconds at
concurrency ``C`` and per-call latency ``L``; the critical path is their sum. Also reported: the
plain sequential-phase bound ``sum(d) * L`` and the throughput bound ``calls * L / C``.
Writes ``benchmarks/results/apo_speed.json`` and ``benchmarks/results/BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import platform
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from apo_speed_report import markdown
from apo_speed_world import (
    OPTIMIZER_MODEL,
    PROMPT,
    TASK_MODEL,
    StageTracker,
    Tagged,
    make_examples,
    responder,
    scripted_engine,
)

from apo_core import Engine, OpenAIChatModel
from apo_core.apo import APO, APOConfig, APOResult
from apo_core.engine import Event, RunEvent
from apo_core.testing import FakeOpenAIServer
from apo_core.types import CompletionParams, Message

RESULTS = Path(__file__).parent / "results"
EXPAND_CHAIN = ("minibatch", "gradient", "edit", "paraphrase")
RELEASE_DEFAULTS = {
    "minibatch": 64,
    "n_gradients": 4,
    "errors_per_gradient": 4,
    "gradients_per_error": 1,
    "steps_per_gradient": 1,
    "mc_samples": 2,
    "max_expansion_factor": 8,
    "eval_budget": 2048,  # samples_per_eval 32 * eval_rounds 8 * eval_prompts_per_round 8
    "n_test": 400,
}


def label_metric(prediction: str, example: Any) -> float:
    return 1.0 if prediction.strip().lower() == example.output else 0.0


def apo_config(args: argparse.Namespace) -> APOConfig:
    return APOConfig(
        rounds=args.rounds,
        beam_size=args.beam,
        minibatch_size=args.minibatch,
        selector="brute_force",
        eval_budget=args.eval_budget,
        patience=None,
        optimizer_max_tokens=256,
        seed=0,
    )


async def timed_run(
    args: argparse.Namespace, engine: Engine, tracker: StageTracker
) -> dict[str, Any]:
    """One APO run on ``engine``; wall time, process CPU, the result and calls per stage."""
    train, validation = make_examples(args.train), make_examples(args.validation, 10_000)
    test = make_examples(args.test, 20_000)
    started, cpu = time.perf_counter(), time.process_time()
    result = await APO(engine, apo_config(args)).optimize(
        PROMPT, train=train, validation=validation, test=test, metric=label_metric
    )
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    engine.close()
    return {"wall_s": wall, "cpu_s": cpu, "result": result, "tracker": tracker}


async def http_run(
    args: argparse.Namespace, base_url: str, cache: Path, concurrency: int
) -> dict[str, Any]:
    """The run through OpenAIChatModel -> HTTP -> FakeOpenAIServer."""
    import openai

    tracker = StageTracker()
    client = openai.AsyncOpenAI(api_key="unused", base_url=base_url, max_retries=0)
    task = Tagged(OpenAIChatModel(TASK_MODEL, base_url=base_url, client=client), "task", tracker)
    opt = Tagged(
        OpenAIChatModel(OPTIMIZER_MODEL, base_url=base_url, client=client), "optimizer", tracker
    )
    hello = [Message(role="user", content="warm up")]
    for model in (task.inner, opt.inner):  # open the client (importing openai takes ~1 s)
        await model.complete(hello, CompletionParams(max_tokens=1))
    engine = Engine(
        roles={"task": task, "optimizer": opt},
        cache=cache,
        max_concurrency=concurrency,
        listeners=[tracker],
    )
    try:
        return await timed_run(args, engine, tracker)
    finally:
        await client.close()


async def in_process_run(args: argparse.Namespace, cache: Path) -> dict[str, Any]:
    """The same run without HTTP: scripted models that sleep ``--latency`` per call."""
    tracker = StageTracker()
    engine = scripted_engine(
        tracker=tracker,
        latency_s=args.latency,
        cache=cache,
        max_concurrency=args.concurrency,
        listeners=[tracker],
    )
    return await timed_run(args, engine, tracker)


def critical_path(tracker: StageTracker, concurrency: int, latency: float) -> dict[str, Any]:
    """Bounds from the run's stages (see the module docstring)."""
    stages = []
    for stage in tracker.order:
        kinds = {k: n for (s, k), n in tracker.calls.items() if s == stage}
        n = sum(kinds.values())
        if not n:
            continue
        depth = sum(1 for k in EXPAND_CHAIN if kinds.get(k)) if stage.startswith("expand") else 1
        waves = max(depth, math.ceil(n / concurrency))
        stages.append({"stage": stage, "calls": n, "depth": depth, "waves": waves, **kinds})
    calls = sum(s["calls"] for s in stages)
    return {
        "stages": stages,
        "calls": calls,
        "critical_path_s": round(sum(s["waves"] for s in stages) * latency, 3),
        "sequential_phase_bound_s": round(sum(s["depth"] for s in stages) * latency, 3),
        "throughput_bound_s": round(calls * latency / concurrency, 3),
        "all_sequential_s": round(calls * latency, 3),
    }


def release_calls(rounds: int, beam: int, minibatch: int, eval_budget: int, n_test: int) -> dict:
    """Calls of the ProTeGi release (microsoft/LMOps prompt_optimization) for one run.

    Per parent: ``minibatch`` task calls, ``n_gradients`` gradient calls, one edit call per
    reason, one synonym call (``n=mc_samples``) per new section plus the original section;
    successors capped at ``max_expansion_factor``. Brute force scores every candidate on
    ``eval_budget // candidates`` train examples (one call each); round 0 and every round score
    each beam prompt on ``n_test`` test examples. Beams are assumed full (an upper bound).
    """
    d = RELEASE_DEFAULTS
    reasons = d["n_gradients"] * d["gradients_per_error"]
    new_sections = reasons * d["steps_per_gradient"]
    optimizer_per_parent = d["n_gradients"] + reasons + new_sections + 1
    sections = new_sections + (new_sections + 1) * d["mc_samples"]
    successors = min(sections, d["max_expansion_factor"])
    task = {"minibatch": 0, "selection": 0, "test": n_test}
    optimizer, parents = 0, 1
    for _ in range(rounds):
        task["minibatch"] += parents * minibatch
        optimizer += parents * optimizer_per_parent
        candidates = parents * (1 + successors)
        task["selection"] += candidates * (eval_budget // candidates)
        parents = min(beam, candidates)
        task["test"] += parents * n_test
    return {"task": sum(task.values()), "task_detail": task, "optimizer": optimizer}


def per_role(result: APOResult) -> dict[str, dict[str, int]]:
    return {
        role: {
            "calls": line.calls,
            "input_tokens": line.input_tokens,
            "output_tokens": line.output_tokens,
        }
        for role, line in sorted(result.usage.by_role.items())
    }


def efficiency(args: argparse.Namespace, ours: dict[str, dict[str, int]]) -> dict[str, Any]:
    """(d): our calls and tokens per role against the release's, for the same rounds and beam."""
    same = release_calls(args.rounds, args.beam, args.minibatch, args.eval_budget, args.test)
    d = RELEASE_DEFAULTS
    default = release_calls(args.rounds, args.beam, d["minibatch"], d["eval_budget"], d["n_test"])
    rows = {}
    for role in ("task", "optimizer"):
        line = ours.get(role, {"calls": 0, "input_tokens": 0, "output_tokens": 0})
        per_call = (line["input_tokens"] + line["output_tokens"]) / max(line["calls"], 1)
        rows[role] = {
            "ours_calls": line["calls"],
            "ours_tokens": line["input_tokens"] + line["output_tokens"],
            "release_same_config_calls": same[role],
            "release_defaults_calls": default[role],
            "release_defaults_tokens_est": round(default[role] * per_call),
        }
    return {"by_role": rows, "release_same_config": same, "release_defaults": default}


class PeakSplit:
    """At the first round, remembers the traced peak so far and restarts the peak."""

    def __init__(self) -> None:
        self.setup_peak = 0
        self.held = 0
        self.done = False

    def __call__(self, event: Event) -> None:
        if not self.done and isinstance(event, RunEvent) and event.kind == "round_started":
            self.held, self.setup_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            self.done = True


def memory_scaling(args: argparse.Namespace) -> list[dict[str, Any]]:
    """(e): peak traced memory during the rounds (and before them) and seconds per round as
    train grows."""
    rows = []
    for size in args.sizes:
        train, validation = make_examples(size), make_examples(args.validation, 10**7)
        split = PeakSplit()
        engine = scripted_engine(max_concurrency=args.concurrency, listeners=[split])
        apo = APO(engine, apo_config(args))
        tracemalloc.start()
        started = time.perf_counter()
        result = apo.optimize_sync(PROMPT, train=train, validation=validation, metric=label_metric)
        wall = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rounds = [round(h.elapsed_s, 3) for h in result.history]
        rows.append(
            {
                "train_examples": size,
                "peak_mb": round(peak / 2**20, 2),
                "setup_peak_mb": round(split.setup_peak / 2**20, 2),
                "held_mb": round(split.held / 2**20, 2),
                "rounds_added_mb": round((peak - split.held) / 2**20, 2),
                "round_s": rounds,
                "wall_s": round(wall, 3),
                "calls": result.usage.total.calls,
            }
        )
        print(
            f"  train {size:>7,}: held at round 1 {split.held / 2**20:6.2f} MB, rounds add "
            f"{(peak - split.held) / 2**20:5.2f} MB (peak {peak / 2**20:.2f}), rounds {rounds} s"
        )
    return rows


def speed(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """(a), (b), (c) against one FakeOpenAIServer."""
    with FakeOpenAIServer(
        responder,
        latency_s=args.latency,
        latency_per_token_s=args.latency_per_token,
        rpm=args.rpm,
        tpm=args.tpm,
    ) as server:
        a = asyncio.run(http_run(args, server.base_url, tmp / "a.sqlite", args.concurrency))
        print(f"  (a) concurrency {args.concurrency}: {a['wall_s']:.2f} s")
        sent = server.request_count
        c = asyncio.run(http_run(args, server.base_url, tmp / "a.sqlite", args.concurrency))
        replay_requests = server.request_count - sent - 2  # minus the two warm-up calls
        print(f"  (c) replay on the same cache: {c['wall_s']:.2f} s")
        inproc = asyncio.run(in_process_run(args, tmp / "inproc.sqlite"))
        print(f"  (a') same run without HTTP: {inproc['wall_s']:.2f} s")
        b = None
        if not args.skip_sequential:
            b = asyncio.run(http_run(args, server.base_url, tmp / "b.sqlite", 1))
            print(f"  (b) concurrency 1: {b['wall_s']:.2f} s")
    ra: APOResult = a["result"]
    out_tokens = ra.usage.total.output_tokens / max(ra.usage.total.calls, 1)
    latency = args.latency + args.latency_per_token * out_tokens
    bounds = critical_path(a["tracker"], args.concurrency, latency)
    # The server admits rpm requests (tpm tokens) per sliding minute: N of them need at least
    # (ceil(N / limit) - 1) full minutes.
    if args.rpm:
        bounds["rpm_bound_s"] = (math.ceil(bounds["calls"] / args.rpm) - 1) * 60.0
    if args.tpm:
        tokens = ra.usage.total.total_tokens
        bounds["tpm_bound_s"] = (math.ceil(tokens / args.tpm) - 1) * 60.0
    lower = max(
        bounds["critical_path_s"], bounds.get("rpm_bound_s", 0.0), bounds.get("tpm_bound_s", 0.0)
    )
    out: dict[str, Any] = {
        "a_concurrent": {
            "wall_s": round(a["wall_s"], 3),
            "calls": ra.usage.total.calls,
            "per_call_latency_s": round(latency, 4),
            **bounds,
            "lower_bound_s": lower,
            "x_critical_path": round(a["wall_s"] / lower, 3),
            "process_cpu_s": round(a["cpu_s"], 3),
            "cpu_ms_per_call": round(a["cpu_s"] / max(ra.usage.total.calls, 1) * 1000, 2),
            "round_s": [round(h.elapsed_s, 3) for h in ra.history],
            "best_validation": ra.best_validation.accuracy.value if ra.best_validation else None,
            "initial_validation": (
                ra.initial_validation.accuracy.value if ra.initial_validation else None
            ),
        },
        "a_without_http": {
            "wall_s": round(inproc["wall_s"], 3),
            "calls": inproc["result"].usage.total.calls,
            "critical_path_s": critical_path(inproc["tracker"], args.concurrency, latency)[
                "critical_path_s"
            ],
            "cpu_ms_per_call": round(
                inproc["cpu_s"] / max(inproc["result"].usage.total.calls, 1) * 1000, 2
            ),
            "same_best_prompt": inproc["result"].best_prompt == ra.best_prompt,
        },
        "c_replay": {
            "wall_s": round(c["wall_s"], 3),
            "uncached_calls": c["result"].usage.total.calls,
            "cache_hits": c["result"].usage.total.cache_hits,
            "server_requests": replay_requests,
            "same_best_prompt": c["result"].best_prompt == ra.best_prompt,
        },
        "per_role": per_role(ra),
    }
    if b is not None:
        out["b_sequential"] = {
            "wall_s": round(b["wall_s"], 3),
            "calls": b["result"].usage.total.calls,
            "x_concurrent": round(b["wall_s"] / a["wall_s"], 2),
            "same_best_prompt": b["result"].best_prompt == ra.best_prompt,
        }
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--latency", type=float, default=0.2, help="seconds per call")
    p.add_argument("--latency-per-token", type=float, default=0.0)
    p.add_argument("--rpm", type=float, help="server requests-per-minute limit (429 over it)")
    p.add_argument("--tpm", type=float, help="server tokens-per-minute limit (429 over it)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--beam", type=int, default=4)
    p.add_argument("--minibatch", type=int, default=16)
    p.add_argument("--eval-budget", type=int, default=64)
    p.add_argument("--train", type=int, default=200)
    p.add_argument("--validation", type=int, default=20)
    p.add_argument("--test", type=int, default=20)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    p.add_argument("--skip-sequential", action="store_true", help="skip (b), the slow part")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    print("speed (a, c, b):")
    with tempfile.TemporaryDirectory() as tmp:
        speed_figures = speed(args, Path(tmp))
    print("memory (e):")
    memory = memory_scaling(args)
    overhead_file = RESULTS / "engine_overhead.json"
    report = {
        "benchmark": "apo_speed",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": __import__("os").cpu_count(),
        "config": {k: v for k, v in vars(args).items() if k != "skip_sequential"},
        "speed": speed_figures,
        "efficiency": efficiency(args, speed_figures["per_role"]),
        "memory": memory,
        "engine_overhead": (
            json.loads(overhead_file.read_text()) if overhead_file.exists() else None
        ),
        "runtime_s": round(time.perf_counter() - started, 1),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "apo_speed.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "BENCHMARKS.md").write_text(markdown(report))
    a = speed_figures["a_concurrent"]
    print(
        f"(a) {a['wall_s']:.2f} s for {a['calls']} calls; lower bound {a['lower_bound_s']:.2f}"
        f" s -> {a['x_critical_path']:.2f}x. Wrote {RESULTS}/apo_speed.json and BENCHMARKS.md "
        f"({report['runtime_s']} s)"
    )


if __name__ == "__main__":
    main()
