"""The ``apo`` command line (typer + rich).

Errors a user can cause print one clear line and exit 1; Ctrl-C stops cleanly (exit 130) with
the last round's checkpoint and every paid call in the cache, so ``--resume`` continues.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from apo_core.cli.common import build_engine, err, fail, out
from apo_core.cli.modelspec import SPEC_HELP
from apo_core.errors import APOError
from apo_core.sync import run_sync

app = typer.Typer(
    name="apo",
    help="apo-bpo: optimize prompts (APO/ProTeGi) and rewrite instructions (BPO).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_CACHE = Path(".apo") / "cache.sqlite"
ModelOpt = Annotated[str, typer.Option("--model", help=f"Model spec: {SPEC_HELP}.")]
CacheOpt = Annotated[Path | None, typer.Option(help="SQLite response cache file.")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Run without the response cache.")]
KeyOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--key",
        help="Which record key holds a field, as FIELD=NAME (repeatable), e.g. "
        "--key instruction=question.",
    ),
]
SourceOpt = Annotated[
    str,
    typer.Option(
        help="meta_prompt (any chat model) or bpo_model (THUDM/BPO's template: needs a "
        "completion:MODEL@URL model)."
    ),
]


def user_errors(func: F) -> F:
    """Turn apo-bpo errors into one line and exit 1, Ctrl-C into a clean exit 130."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except APOError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            err.print(
                "interrupted: paid calls are in the cache and the last round is checkpointed; "
                "run the same command with --resume to continue"
            )
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


@app.command()
@user_errors
def optimize(
    task: Annotated[Path, typer.Argument(help="A task file (TOML/YAML) or a folder with one.")],
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Run folder (default .apo/runs/NAME).")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the run's checkpoint.")] = False,
    estimate: Annotated[
        bool, typer.Option(help="Print expected calls, tokens and cost, then exit.")
    ] = False,
    no_cache: NoCacheOpt = False,
    quiet: Annotated[bool, typer.Option(help="No periodic progress lines.")] = False,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            help=f"Override the task's models: SPEC for every role, or ROLE=SPEC "
            f"(repeatable). SPEC: {SPEC_HELP}.",
        ),
    ] = None,
) -> None:
    """Optimize a prompt with APO (ProTeGi) as a task file describes."""
    from apo_core.cli.optimize import optimize_task, override_models
    from apo_core.cli.taskfile import load_task

    loaded = load_task(task)
    override_models(loaded, model or [])
    optimize_task(
        loaded,
        out_dir=out_dir,
        resume=resume,
        estimate=estimate,
        use_cache=not no_cache,
        quiet=quiet,
    )


@app.command()
@user_errors
def report(
    run: Annotated[Path, typer.Argument(help="A run folder or its result.json.")],
    out_dir: Annotated[Path | None, typer.Option("--out", help="Where to write it.")] = None,
) -> None:
    """Render a run to a self-contained HTML report (and Markdown)."""
    from apo_core.apo.result import APOResult
    from apo_core.cli.optimize import write_run_report
    from apo_core.errors import ConfigError

    file = run / "result.json" if run.is_dir() else run
    if not file.is_file():
        raise ConfigError(f"no result.json at {run}")
    try:
        result = APOResult.from_json(file)
    except ValueError as exc:
        raise ConfigError(f"{file} is not an apo-bpo result: {str(exc).splitlines()[0]}") from None
    html = write_run_report(result, out_dir or file.parent)
    out.print(f"report: {html}")


@app.command()
@user_errors
def bpo(
    instruction: Annotated[str | None, typer.Argument(help="The instruction to rewrite.")] = None,
    file: Annotated[Path | None, typer.Option(help="JSONL/JSON file of prompts.")] = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="JSONL output for --file.")] = None,
    model: ModelOpt = "local",
    source: SourceOpt = "meta_prompt",
    mode: Annotated[str, typer.Option(help="stable or aggressive.")] = "stable",
    rounds: Annotated[int, typer.Option(min=1, help="Rewrite the rewrite k times.")] = 1,
    protect: Annotated[
        list[str] | None, typer.Option(help="A span to keep verbatim (repeatable).")
    ] = None,
    key: KeyOpt = None,
    cache: CacheOpt = DEFAULT_CACHE,
    no_cache: NoCacheOpt = False,
) -> None:
    """Rewrite an instruction with BPO before a target model sees it."""
    from apo_core.cli.bpo import rewrite_command

    rewrite_command(
        instruction,
        file=file,
        out_file=out_file,
        model=model,
        source=_choice(source, ("meta_prompt", "bpo_model"), "--source"),
        mode=_choice(mode, ("stable", "aggressive"), "--mode"),
        rounds=rounds,
        protect=protect or [],
        cache=None if no_cache else cache,
        keys=key or [],
    )


@app.command("bpo-pairs")
@user_errors
def bpo_pairs(
    source_file: Annotated[Path, typer.Argument(help="Preference data (JSONL/JSON).")],
    out_file: Annotated[Path, typer.Argument(help="SFT JSONL to write.")],
    model: ModelOpt = "local",
    limit: Annotated[int | None, typer.Option(min=1)] = None,
    key: KeyOpt = None,
    cache: CacheOpt = DEFAULT_CACHE,
    no_cache: NoCacheOpt = False,
) -> None:
    """Build BPO training pairs (instruction -> optimized instruction) from preference data."""
    from apo_core.cli.bpo import pairs_command

    pairs_command(
        source_file,
        out_file,
        model=model,
        limit=limit,
        cache=None if no_cache else cache,
        keys=key or [],
    )


@app.command("bpo-eval")
@user_errors
def bpo_eval(
    source_file: Annotated[Path, typer.Argument(help="Instructions (JSONL/JSON).")],
    target: Annotated[str, typer.Option(help="Model that answers (spec).")] = "local",
    rewriter: Annotated[str, typer.Option(help="Model that rewrites (spec).")] = "local",
    judge: Annotated[str, typer.Option(help="Model that judges (spec).")] = "local",
    judge_format: Annotated[
        str,
        typer.Option(
            help="Verdict as pair-v2 [[A]] text or a JSON object (schema sent to the backend); "
            "auto: json for the embedded judge, text otherwise."
        ),
    ] = "auto",
    source: SourceOpt = "meta_prompt",
    mode: Annotated[str, typer.Option(help="stable or aggressive.")] = "stable",
    rounds: Annotated[int, typer.Option(min=1, help="Rewrite the rewrite k times.")] = 1,
    seed: Annotated[int, typer.Option(help="Seeds rewrites, answer order and the CI.")] = 0,
    limit: Annotated[int | None, typer.Option(min=1)] = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the report JSON.")] = None,
    max_tokens: Annotated[
        int, typer.Option(min=1, help="Cap per answer/judgment (rewrites: the guard's limit).")
    ] = 256,
    key: KeyOpt = None,
    cache: CacheOpt = DEFAULT_CACHE,
    no_cache: NoCacheOpt = False,
) -> None:
    """Pairwise-judge answers to original vs BPO-rewritten instructions (win - loss, CI)."""
    from apo_core.cli.bpo import eval_command

    eval_command(
        source_file,
        target=target,
        rewriter_model=rewriter,
        judge=judge,
        judge_format=_choice(judge_format, ("auto", "text", "json"), "--judge-format"),
        source=_choice(source, ("meta_prompt", "bpo_model"), "--source"),
        mode=_choice(mode, ("stable", "aggressive"), "--mode"),
        limit=limit,
        out_file=out_file,
        max_tokens=max_tokens,
        cache=None if no_cache else cache,
        rounds=rounds,
        seed=seed,
        keys=key or [],
    )


@app.command()
@user_errors
def complete(
    prompt: Annotated[str, typer.Argument(help="The user message to complete.")],
    model: ModelOpt = "local",
    max_tokens: Annotated[int, typer.Option(min=1)] = 128,
    temperature: Annotated[float, typer.Option(min=0.0, max=2.0)] = 0.0,
    seed: int | None = None,
    cache: CacheOpt = DEFAULT_CACHE,
    no_cache: NoCacheOpt = False,
) -> None:
    """Complete one prompt through the engine and print the reply and its usage."""
    engine = build_engine({"default": model}, cache=None if no_cache else cache)
    with engine:
        result = run_sync(
            engine.complete(prompt, max_tokens=max_tokens, temperature=temperature, seed=seed)
        )
        usage = engine.usage().total
    out.print(result.text)
    err.print(
        f"{result.model_id}: {usage.calls} call(s), {usage.cache_hits} cached, "
        f"{usage.input_tokens}+{usage.output_tokens} tokens, ${usage.cost_usd:.4f}",
    )


def _choice(value: str, allowed: tuple[str, ...], flag: str) -> Any:
    if value not in allowed:
        fail(f"{flag} must be one of {', '.join(allowed)}, not {value!r}")
    return value


__all__ = ["app"]
