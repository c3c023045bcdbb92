"""Coordinate ascent: optimize several prompts of one program, one at a time.

Both adapters optimize several prompts of one chain or query engine in one call (LangChain's
``targets=``, LlamaIndex's ``targets=``): each target is optimized by a full APO run while the
others hold their current best text, and each run's best text is put in place before the next
target's run starts; ``passes`` repeats the sweep. The framework part (reading a target's text,
building the program that tries candidates for it, putting the best text back) is the
adapter's; the loop, its checks, checkpoints and events are here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from apo_core.apo.result import APOResult
from apo_core.apo.search import APO
from apo_core.engine import RunEvent
from apo_core.errors import ConfigError
from apo_core.program import PromptProgram

__all__ = ["coordinate_ascent", "step_checkpoint"]

T = TypeVar("T")


def step_checkpoint(checkpoint: str | Path, step: int, steps: int) -> Path:
    """The checkpoint file of one step: the path itself for a single step, else
    ``<stem>.<step><suffix>`` beside it (``run.json`` -> ``run.0.json``, ``run.1.json``)."""
    path = Path(checkpoint)
    return path if steps == 1 else path.with_name(f"{path.stem}.{step}{path.suffix}")


async def coordinate_ascent(
    apo: APO,
    targets: Sequence[T],
    *,
    prepare: Callable[[T], tuple[str, PromptProgram]],
    apply: Callable[[T, str], None],
    name: Callable[[T], str] = str,
    passes: int = 1,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    **optimize: Any,
) -> list[APOResult]:
    """Optimize each target in turn, ``passes`` times over; one APO run per (pass, target).

    Args:
        apo: the configured search (its engine runs every call).
        targets: what to optimize, in order (the adapter's own description of a prompt).
        prepare: a target's current text and the program that scores candidates for it,
            built on the current state (the earlier targets' best texts in place).
        apply: puts a target's best text in place, for the targets after it.
        name: a target's name, for events and errors.
        passes: sweeps over ``targets`` (at least 1).
        checkpoint: a checkpoint file; with several steps each step gets its own
            (:func:`step_checkpoint`), so ``resume=True`` continues where a killed run stopped.
        resume: continue from the checkpoint(s).
        optimize: the rest of :meth:`APO.optimize` (``train``, ``validation``, ``metric``, ...).

    Returns:
        One :class:`APOResult` per step, in order (the last one holds the final text of the
        last target).

    Raises:
        ConfigError: no targets, a target listed twice, or ``passes`` below 1.
    """
    if not targets:
        raise ConfigError("there is no prompt to optimize: targets is empty")
    names = [name(t) for t in targets]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"each target may be listed once; listed twice: {', '.join(twice)}")
    if passes < 1:
        raise ConfigError("passes must be at least 1")
    steps = passes * len(targets)
    results: list[APOResult] = []
    for pass_ in range(passes):
        for index, target in enumerate(targets):
            step = len(results)
            if steps > 1:
                data = {"target": names[index], "pass": pass_, "step": step, "steps": steps}
                apo.engine.events.emit(RunEvent(kind="target_started", data=data))
            text, program = prepare(target)
            where = None if checkpoint is None else step_checkpoint(checkpoint, step, steps)
            result = await apo.optimize(
                text, program=program, checkpoint=where, resume=resume, **optimize
            )
            results.append(result)
            apply(target, result.best_prompt)
    return results
