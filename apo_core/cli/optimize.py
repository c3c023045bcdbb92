"""``apo optimize TASK``: an APO run from a task file, with live progress and a report."""

from __future__ import annotations

import statistics
from pathlib import Path

from rich.table import Table

from apo_core.apo.estimate import estimate_calls
from apo_core.apo.metaprompts import resolve_style
from apo_core.apo.result import APOResult, SplitScores
from apo_core.apo.search import APO
from apo_core.cli.common import build_engine, err, out
from apo_core.cli.taskfile import Task
from apo_core.data import Dataset
from apo_core.engine import Engine, ProgressDisplay, price_per_token
from apo_core.errors import ConfigError
from apo_core.metrics import LLMJudge
from apo_core.models import count_text_tokens, tokenizer_name
from apo_core.program import TemplateProgram
from apo_core.sync import run_sync
from apo_core.types import ROLES


def run_dir(task: Task, out_dir: Path | None) -> Path:
    """Where a task's run files go: ``--out`` or ``<task folder>/.apo/runs/<name>``."""
    return out_dir or task.root / ".apo" / "runs" / task.spec.name


def override_models(task: Task, overrides: list[str]) -> None:
    """Apply ``--model`` options: ``SPEC`` (every role) or ``ROLE=SPEC``, in order."""
    models = dict(task.spec.models)
    for value in overrides:
        role, sep, spec = value.partition("=")
        if sep and role.strip() in ("default", *ROLES):
            if not spec.strip():
                raise ConfigError(f"--model {value!r} names no model spec")
            models[role.strip()] = spec.strip()
        else:
            models = {"default": value.strip()}
    task.spec = task.spec.model_copy(update={"models": models})


def check_variables(prompt: str, program: TemplateProgram, data: Dataset) -> None:
    """Fail clearly when the prompt uses template variables the data does not have."""
    if not len(data):
        raise ConfigError("the dataset is empty")
    needed = program.variables(prompt)
    keys = set(data[0].inputs)
    missing = sorted(needed - keys)
    if missing:
        raise ConfigError(
            f"the prompt uses {', '.join('{' + m + '}' for m in missing)} but the data has "
            f"only the input keys {sorted(keys)}"
        )


def print_estimate(task: Task, engine: Engine, prompt: str) -> None:
    """Print the expected calls, tokens and cost of a run, per role."""
    train, validation, test = task.splits()
    config = task.config()
    judge = isinstance(task.metric(), LLMJudge)
    calls = estimate_calls(
        config,
        train_size=len(train),
        validation_size=len(validation),
        test_size=len(test),
        judge=judge,
        style=resolve_style(config.meta_prompt_style, engine.model_for("optimizer")),
    )
    sample = [ex for split in (train, validation) for ex in split][:50]
    example_tokens = statistics.mean(count_text_tokens(str(ex.inputs)) for ex in sample)
    prompt_tokens = count_text_tokens(prompt)
    per_call = {
        "task": (prompt_tokens + example_tokens, task.spec.task_max_tokens or 256),
        "optimizer": (
            2 * prompt_tokens + config.errors_per_gradient * example_tokens,
            config.optimizer_max_tokens,
        ),
        "judge": (prompt_tokens + 2 * example_tokens, 256),
    }
    table = Table(title=f"Estimate for {task.spec.name} (upper bounds)")
    # Whole model names even in an 80-column log: the number headers wrap instead.
    longest = max(len(engine.model_for(role).model_id) for role in calls.by_role)
    for column in ("role", "model", "calls", "input tokens", "output tokens", "dollars"):
        is_model = column == "model"
        table.add_column(
            column,
            justify="left" if column in ("role", "model") else "right",
            no_wrap=is_model,
            min_width=longest if is_model else None,
        )
    total = 0.0
    unpriced: list[str] = []
    for role, n in calls.by_role.items():
        model = engine.model_for(role)
        tokens_in = int(n * per_call[role][0])
        # A paraphrase call returns several replies: output is bounded per reply, not per call.
        tokens_out = int(calls.replies_by_role.get(role, n) * per_call[role][1])
        prices = price_per_token(model.model_id, model.provider)
        if prices is None:
            unpriced.append(model.model_id)
            dollars = "unknown"
        else:
            cost = tokens_in * prices[0] + tokens_out * prices[1]
            total += cost
            dollars = f"${cost:.4f}"
        table.add_row(role, model.model_id, f"{n:,}", f"{tokens_in:,}", f"{tokens_out:,}", dollars)
    out.print(table)
    out.print(f"total calls at most {calls.total:,}; priced cost at most ${total:.4f}")
    out.print(f"tokens counted with: {tokenizer_name()}")
    if unpriced:
        out.print(f"no price known for: {', '.join(sorted(set(unpriced)))} (counted as $0)")


def _scores(label: str, initial: SplitScores | None, best: SplitScores | None) -> str:
    if initial is None or best is None:
        return f"{label}: not scored"
    a, b = initial.accuracy, best.accuracy
    line = (
        f"{label} accuracy {a.value:.3f} [{a.low:.3f}, {a.high:.3f}] -> "
        f"{b.value:.3f} [{b.low:.3f}, {b.high:.3f}] (n={b.n})"
    )
    if initial.f1 is not None and best.f1 is not None:
        line += f"; F1 {initial.f1.value:.3f} -> {best.f1.value:.3f}"
    return line


def print_summary(result: APOResult, folder: Path, report: Path | None) -> None:
    """The before/after lines a user reads at the end of a run."""
    out.print(f"stopped by {result.stopped_by} after {result.rounds_completed} round(s)")
    out.print(_scores("validation", result.initial_validation, result.best_validation))
    out.print(_scores("test", result.initial_test, result.best_test))
    usage = result.usage.total
    roles = ", ".join(f"{r} {line.calls}" for r, line in sorted(result.usage.by_role.items()))
    out.print(
        f"LLM calls {usage.calls} ({roles}); cache hits {usage.cache_hits}; "
        f"tokens {usage.total_tokens:,}; ${usage.cost_usd:.4f}"
    )
    out.print("best prompt:", style="bold")
    out.print(result.best_prompt)
    out.print(f"result: {folder / 'result.json'}")
    if report is not None:
        out.print(f"report: {report}")


def optimize_task(
    task: Task,
    *,
    out_dir: Path | None,
    resume: bool,
    estimate: bool,
    use_cache: bool,
    quiet: bool,
) -> None:
    """Run (or estimate) a task; write result.json and the report into the run folder."""
    folder = run_dir(task, out_dir)
    prompt = task.prompt()
    program = TemplateProgram(system=task.spec.system, max_tokens=task.spec.task_max_tokens)
    train, validation, test = task.splits()
    check_variables(prompt, program, train)
    cache = task.root / ".apo" / "cache.sqlite" if use_cache else None
    engine = build_engine(
        task.spec.models,
        cache=cache,
        budget=task.spec.budget,
        max_concurrency=task.spec.max_concurrency,
        seed=task.spec.seed,
    )
    with engine:
        if estimate:
            print_estimate(task, engine, prompt)
            return
        folder.mkdir(parents=True, exist_ok=True)
        apo = APO(engine, task.config())
        checkpoint = folder / "checkpoint.json"
        if resume and not checkpoint.exists():
            err.print(f"no checkpoint in {folder}; starting from the beginning")
        progress = ProgressDisplay(every=50 if not quiet else 10**9)
        unsubscribe = engine.subscribe(progress)
        try:
            with progress:
                result = run_sync(
                    apo.optimize(
                        prompt,
                        train=train,
                        validation=validation,
                        test=test or None,
                        metric=task.metric(),
                        program=program,
                        checkpoint=checkpoint,
                        resume=resume,
                    )
                )
        finally:
            unsubscribe()
    result.to_json(folder / "result.json")
    report = write_run_report(result, folder)
    print_summary(result, folder, report)


def write_run_report(result: APOResult, folder: Path) -> Path | None:
    """Write report.html/report.md next to the result; returns the HTML path."""
    try:
        from apo_core.report import write_report
    except ImportError:  # the renderer is optional in minimal installs
        return None
    html, _markdown = write_report(result, folder)
    return html
