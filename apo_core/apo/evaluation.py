"""Scoring prompts on examples, memoised per (prompt, example id).

One evaluation = the program run on one example + the metric on its prediction. The memo
guarantees no (prompt, example) pair is ever scored twice in a run (it is also saved in
checkpoints). A failed example scores 0 with the error as feedback; ``BudgetExceeded`` is
re-raised once the whole batch has settled, so every paid call lands in the cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from apo_core.errors import BudgetExceeded, ConfigError
from apo_core.program import PromptProgram

if TYPE_CHECKING:
    from apo_core.data import Example
    from apo_core.engine import Engine
    from apo_core.metrics import Metric

T = TypeVar("T")
MAX_STORED_PREDICTION = 2000


@dataclass(frozen=True)
class Scored:
    """One memoised evaluation."""

    value: float
    prediction: str | None
    """The program's output; ``None`` when the program failed."""
    feedback: str | None = None
    label: Any = None
    """The label a label metric read in the prediction (``None``: none, or not a label metric)."""

    def to_list(self) -> list[Any]:
        label = self.label
        if not (label is None or isinstance(label, str | int | float)):
            label = str(label)  # JSON-safe; LabelAccuracy.label_of maps it back
        return [self.value, self.prediction, self.feedback, label]

    @classmethod
    def from_list(cls, data: Sequence[Any]) -> Scored:
        value, prediction, feedback, *rest = data
        return cls(
            float(value or 0.0),
            None if prediction is None else str(prediction),
            None if feedback is None else str(feedback),
            rest[0] if rest else None,
        )


async def settle(awaitables: Iterable[Awaitable[T]]) -> list[T]:
    """Await all concurrently; after all finished, re-raise the first error (budget first)."""
    results = await asyncio.gather(*awaitables, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    for err in errors:
        if isinstance(err, BudgetExceeded):
            raise err
    if errors:
        raise errors[0]
    return results  # type: ignore[return-value]


class Evaluator:
    """Scores prompts on examples through a program and a metric, with a memo."""

    def __init__(self, program: PromptProgram, metric: Metric, engine: Engine) -> None:
        self.program = program
        self.metric = metric
        self.engine = engine
        self.memo: dict[str, dict[str, Scored]] = {}
        self.evaluations = 0
        """Pairs actually scored by this evaluator (memo hits excluded)."""
        self._pending: dict[tuple[str, str], asyncio.Future[Scored]] = {}

    def known(self, prompt: str, example: Example) -> Scored | None:
        """The memoised score of ``example`` under ``prompt``, if any."""
        return self.memo.get(prompt, {}).get(example.id)

    async def _metric(self, prediction: str, example: Example) -> Scored:
        try:
            score = await self.metric.ascore(prediction, example, engine=self.engine)
        except (BudgetExceeded, ConfigError):
            raise  # a stop signal, or a metric that does not fit the data: not a bad answer
        except Exception as exc:
            return Scored(0.0, prediction[:MAX_STORED_PREDICTION], f"metric failed: {exc}")
        value = min(max(float(score.value), 0.0), 1.0)
        return Scored(value, prediction[:MAX_STORED_PREDICTION], score.feedback, score.label)

    async def _run(self, prompt: str, todo: list[Example]) -> list[Scored]:
        outputs = await self.program.arun(prompt, todo, self.engine)
        budget = next((o for o in outputs if isinstance(o, BudgetExceeded)), None)

        async def one(output: str | Exception, example: Example) -> Scored:
            if isinstance(output, Exception):
                return Scored(0.0, None, f"the program failed: {type(output).__name__}: {output}")
            return await self._metric(output, example)

        scored = await settle(
            one(o, ex)
            for o, ex in zip(outputs, todo, strict=True)
            if not isinstance(o, BudgetExceeded)
        )
        if budget is not None:
            raise budget
        return scored

    async def score(self, prompt: str, examples: Sequence[Example]) -> list[Scored]:
        """Scores of ``examples`` under ``prompt``, computing only the unknown ones."""
        table = self.memo.setdefault(prompt, {})
        todo: list[Example] = []
        futures: dict[str, asyncio.Future[Scored]] = {}
        loop = asyncio.get_running_loop()
        for ex in examples:
            key = (prompt, ex.id)
            if ex.id in table or ex.id in futures:
                continue
            if key in self._pending:
                futures[ex.id] = self._pending[key]
                continue
            future: asyncio.Future[Scored] = loop.create_future()
            self._pending[key] = futures[ex.id] = future
            todo.append(ex)
        try:
            if todo:
                results = await self._run(prompt, todo)
                for ex, result in zip(todo, results, strict=True):
                    table[ex.id] = result
                    futures[ex.id].set_result(result)
                self.evaluations += len(todo)
        except BaseException as exc:
            for ex in todo:
                fut = futures[ex.id]
                if not fut.done():
                    fut.set_exception(exc)
                    fut.exception()
            raise
        finally:
            for ex in todo:
                self._pending.pop((prompt, ex.id), None)
        for ex_id, fut in futures.items():
            if ex_id not in table:
                table[ex_id] = await asyncio.shield(fut)
        return [table[ex.id] for ex in examples]

    def export(self) -> dict[str, dict[str, list[Any]]]:
        """The memo as plain JSON data."""
        return {p: {i: s.to_list() for i, s in t.items()} for p, t in self.memo.items()}

    def load(self, data: dict[str, dict[str, list[Any]]]) -> None:
        """Restore a memo saved by :meth:`export`."""
        self.memo = {p: {i: Scored.from_list(v) for i, v in t.items()} for p, t in data.items()}
