"""Engine overhead: what the Engine adds to a call, and how fast cache hits replay.

Run: ``python benchmarks/engine_overhead.py [--calls N]``. Compares an instant in-process
backend called directly with the same backend behind the Engine (no cache; SQLite cache misses
that write; cache hits; concurrent calls), plus one HTTP reference row (OpenAIChatModel against
FakeOpenAIServer on 127.0.0.1). Every case is the best of ``--repeats`` runs (default 5; the
cache cases fill a new file each run), so the figures are stable. Prints a table and writes
``benchmarks/results/engine_overhead.json``. Takes well under 30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from apo_core import Completion, CompletionParams, Engine, Message, OpenAIChatModel, Usage
from apo_core.testing import FakeOpenAIServer

RESULTS = Path(__file__).parent / "results" / "engine_overhead.json"


class InstantModel:
    """Answers at once with a fixed completion (the backend cost is ~0)."""

    model_id = "instant"
    provider = "scripted"
    cache_identity = "instant"

    async def complete(
        self,
        messages: list[Message],
        params: CompletionParams,
        *,
        response_format: type[BaseModel] | None = None,
    ) -> Completion:
        return Completion(
            texts=["ok"] * params.n, usage=Usage(input_tokens=5, output_tokens=1), model_id="i"
        )


async def timed(n: int, call: Callable[[int], Awaitable[Any]]) -> float:
    """Seconds for ``n`` sequential calls."""
    start = time.perf_counter()
    for i in range(n):
        await call(i)
    return time.perf_counter() - start


def best_of(repeats: int, run: Callable[[], float]) -> float:
    return min(run() for _ in range(repeats))


def row(name: str, calls: int, seconds: float, base_us: float | None) -> dict[str, Any]:
    per_call_us = seconds / calls * 1e6
    return {
        "case": name,
        "calls": calls,
        "seconds": round(seconds, 4),
        "calls_per_s": round(calls / seconds, 1),
        "us_per_call": round(per_call_us, 1),
        "added_us_per_call": None if base_us is None else round(per_call_us - base_us, 1),
        "x_direct": None if base_us is None else round(per_call_us / base_us, 1),
    }


def run_all(calls: int, repeats: int) -> list[dict[str, Any]]:
    model = InstantModel()
    messages = [Message(role="user", content="benchmark prompt")]
    params = CompletionParams()

    def direct() -> float:
        return asyncio.run(timed(calls, lambda i: model.complete(messages, params)))

    def engine_plain() -> float:
        engine = Engine(model)
        return asyncio.run(timed(calls, lambda i: engine.complete(f"prompt {i}")))

    def engine_concurrent() -> float:
        engine = Engine(model, max_concurrency=64)

        async def go() -> float:
            start = time.perf_counter()
            await asyncio.gather(*(engine.complete(f"prompt {i}") for i in range(calls)))
            return time.perf_counter() - start

        return asyncio.run(go())

    cache_calls = max(calls // 4, 50)
    with tempfile.TemporaryDirectory() as tmp:

        async def fill_then_replay(path: Path) -> tuple[float, float]:
            engine = Engine(model, cache=path)
            misses = await timed(cache_calls, lambda i: engine.complete(f"cached {i}"))
            hits = await timed(cache_calls, lambda i: engine.complete(f"cached {i}"))
            assert engine.usage().total.cache_hits == cache_calls
            engine.close()
            return misses, hits

        # Each run fills a new file: misses must really miss (and write).
        cache_runs = [
            asyncio.run(fill_then_replay(Path(tmp) / f"bench-{run}.sqlite"))
            for run in range(repeats)
        ]
        miss_s = min(r[0] for r in cache_runs)
        hit_s = min(r[1] for r in cache_runs)

    http_calls = max(calls // 10, 20)
    with FakeOpenAIServer() as server:
        http_model = OpenAIChatModel("fake-model", base_url=server.base_url)

        async def http() -> float:
            await http_model.complete(messages, params)  # warm the connection pool
            return await timed(http_calls, lambda i: http_model.complete(messages, params))

        http_s = best_of(repeats, lambda: asyncio.run(http()))

    base = best_of(repeats, direct)
    base_us = base / calls * 1e6
    return [
        row("backend called directly", calls, base, None),
        row("engine, no cache", calls, best_of(repeats, engine_plain), base_us),
        row("engine, concurrent (gather)", calls, best_of(repeats, engine_concurrent), base_us),
        row("engine, cache miss + write", cache_calls, miss_s, base_us),
        row("engine, cache hit", cache_calls, hit_s, base_us),
        row("HTTP reference: OpenAIChatModel", http_calls, http_s, base_us),
    ]


def print_table(rows: list[dict[str, Any]]) -> None:
    header = f"{'case':34} {'calls':>6} {'calls/s':>10} {'us/call':>10} {'added us':>10} {'x':>8}"
    print(header)
    print("-" * len(header))
    for r in rows:
        added = "" if r["added_us_per_call"] is None else f"{r['added_us_per_call']:.1f}"
        ratio = "" if r["x_direct"] is None else f"{r['x_direct']:.1f}"
        print(
            f"{r['case']:34} {r['calls']:>6} {r['calls_per_s']:>10.1f} "
            f"{r['us_per_call']:>10.1f} {added:>10} {ratio:>8}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per case")
    parser.add_argument("--repeats", type=int, default=5, help="every case: best of this many runs")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = run_all(args.calls, args.repeats)
    print_table(rows)
    engine_row = next(r for r in rows if r["case"] == "engine, no cache")
    hit_row = next(r for r in rows if r["case"] == "engine, cache hit")
    summary = {
        "engine_added_us_per_call": engine_row["added_us_per_call"],
        "cache_hits_per_s": hit_row["calls_per_s"],
        "median_us_per_call": statistics.median(r["us_per_call"] for r in rows),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "engine_overhead",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "calls": args.calls,
        "repeats": args.repeats,
        "rows": rows,
        "summary": summary,
        "runtime_s": round(time.perf_counter() - started, 2),
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {RESULTS} ({result['runtime_s']} s)")


if __name__ == "__main__":
    main()
