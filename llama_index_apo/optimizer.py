"""APO for LlamaIndex: optimize one prompt of a query engine (or any PromptMixin) in place.

The search is :class:`apo_core.apo.APO`'s. This module supplies what it needs from LlamaIndex:

* :class:`QueryEngineProgram` (the ``PromptProgram`` contract): puts a candidate text into the
  template at ``key`` on a copy of the module (the user's stays untouched) and runs ``aquery``
  per example, with LlamaIndex's own variable parser deciding what a valid candidate is;
* :class:`EvaluatorMetric`: a LlamaIndex ``BaseEvaluator`` (``CorrectnessEvaluator``, ...) as an
  apo_core metric, its feedback passed on to the optimizer;
* :class:`APOPromptOptimizer`: wires both to an engine and applies the best prompt in place
  (verified) or on a copy.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from llama_index.core.base.response.schema import Response
from llama_index.core.evaluation import BaseEvaluator
from llama_index.core.evaluation.correctness import CorrectnessEvaluator
from llama_index.core.llms import LLM
from llama_index.core.prompts import BasePromptTemplate, RichPromptTemplate
from llama_index.core.prompts.mixin import PromptMixin

from apo_core import ChatModel, ConfigError, Engine
from apo_core.adapt import coerce_examples, coerce_metric
from apo_core.apo import APO, APOResult
from apo_core.data import Dataset, Example
from apo_core.metrics import Metric, Score
from apo_core.program import ExampleGate
from apo_core.sync import run_sync
from llama_index_apo.llms import EngineLLM, LlamaIndexChatModel
from llama_index_apo.prompts import (
    EditablePrompt,
    Part,
    copy_module,
    find_prompt,
    module_llm,
    set_prompt,
    walk_prompt_modules,
    with_prompt,
)

__all__ = [
    "APOPromptOptimizer",
    "EvaluatorMetric",
    "LlamaIndexAPOResult",
    "QueryEngineProgram",
    "as_llama_metric",
]

M = TypeVar("M", bound=PromptMixin)
Contexts = Callable[[Example, str], "list[str] | None"]
"""``(example, prediction) -> retrieved texts`` for evaluators that judge against context."""


def _query_of(example: Example, query_key: str) -> str:
    if query_key in example.inputs:
        return str(example.inputs[query_key])
    if len(example.inputs) == 1:
        return str(next(iter(example.inputs.values())))
    raise ConfigError(
        f"example {example.id} has no input {query_key!r} (inputs: {sorted(example.inputs)})"
    )


class EvaluatorMetric:
    """A LlamaIndex ``BaseEvaluator`` as an apo_core metric.

    Calls ``aevaluate(query=..., response=prediction, contexts=..., reference=example.output)``;
    ``contexts(example, prediction)`` supplies the retrieved texts (``APOPromptOptimizer``
    wires in :meth:`QueryEngineProgram.contexts_for`, which is what faithfulness and relevancy
    evaluators need). The score
    is mapped to [0, 1] over ``score_range`` (``CorrectnessEvaluator``: 1..5; otherwise a score
    already in [0, 1] is used as is), else ``passing`` gives 1 or 0. The evaluator's feedback
    becomes the :class:`~apo_core.metrics.Score` feedback the optimizer reads.
    """

    def __init__(
        self,
        evaluator: BaseEvaluator,
        *,
        query_key: str = "query",
        score_range: tuple[float, float] | None = None,
        name: str | None = None,
        contexts: Contexts | None = None,
    ) -> None:
        if score_range is None and isinstance(evaluator, CorrectnessEvaluator):
            score_range = (1.0, 5.0)
        if score_range is not None and score_range[1] <= score_range[0]:
            raise ConfigError(f"score_range must be (low, high) with low < high, not {score_range}")
        self.evaluator = evaluator
        self.query_key = query_key
        self.score_range = score_range
        self.name = name or type(evaluator).__name__
        self.contexts = contexts

    def __repr__(self) -> str:
        return f"EvaluatorMetric({self.name})"

    async def ascore(
        self, prediction: str, example: Example, *, engine: Engine | None = None
    ) -> Score:
        reference = None if example.output is None else str(example.output)
        contexts = self.contexts(example, prediction) if self.contexts else None
        result = await self.evaluator.aevaluate(
            query=_query_of(example, self.query_key),
            response=prediction,
            contexts=contexts,
            reference=reference,
        )
        if result.invalid_result:
            return Score(value=0.0, feedback=f"evaluation invalid: {result.invalid_reason}")
        feedback = result.feedback
        if result.score is not None:
            low, high = self.score_range or (0.0, 1.0)
            value = (float(result.score) - low) / (high - low)
            if self.score_range is not None or 0.0 <= value <= 1.0:
                return Score(value=min(1.0, max(0.0, value)), feedback=feedback)
        if result.passing is not None:
            return Score(value=1.0 if result.passing else 0.0, feedback=feedback)
        raise ConfigError(
            f"{self.name} returned score {result.score!r} and no passing verdict; "
            "pass score_range=(low, high) to map its scores to [0, 1]"
        )


def as_llama_metric(
    metric: Any, *, query_key: str = "query", contexts: Contexts | None = None
) -> Metric:
    """An apo_core metric from a LlamaIndex evaluator, or anything
    :func:`apo_core.adapt.coerce_metric` accepts (apo_core metrics, ``(prediction, example)``
    callables, built-in names, LangSmith-style evaluators)."""
    if isinstance(metric, BaseEvaluator):
        return EvaluatorMetric(metric, query_key=query_key, contexts=contexts)
    return coerce_metric(metric)


class QueryEngineProgram:
    """The ``PromptProgram`` of a query engine: candidate text -> template at ``key`` ->
    ``aquery`` per example on a copy of ``module``.

    Args:
        module: a query engine (anything with ``aquery``) holding the prompt at ``key``.
        key: the prompt key, any depth (``"response_synthesizer:text_qa_template"``).
        part: which chat message is edited (``"user"``, ``"system"`` or an index).
        llm: resolves selector templates; default the module's own LLM.
        query_key: the example input holding the query.
        parse: turns the response text into the prediction; default strips whitespace.
        max_concurrency: queries in flight at once over all concurrent ``arun`` calls (APO
            scores several candidates at once); default the engine's concurrency.
        cache_size: module copies kept (one per candidate text).
    """

    def __init__(
        self,
        module: PromptMixin,
        key: str,
        *,
        part: Part = "user",
        llm: LLM | None = None,
        query_key: str = "query",
        parse: Callable[[str], str] | None = None,
        max_concurrency: int | None = None,
        cache_size: int = 16,
    ) -> None:
        if not callable(getattr(module, "aquery", None)):
            raise ConfigError(f"{type(module).__name__} has no aquery(); pass a query engine")
        self.module = module
        self.key = key
        self.prompt: EditablePrompt = find_prompt(module, key, llm=llm, part=part)
        self.query_key = query_key
        self.parse = parse or str.strip
        self.gate = ExampleGate(max_concurrency)
        self._copies: OrderedDict[str, PromptMixin] = OrderedDict()
        self._cache_size = cache_size
        self._contexts: dict[tuple[str, str], list[str]] = {}

    def variables(self, prompt: str) -> set[str]:
        """Variables of ``prompt`` by LlamaIndex's parser for this template's class."""
        try:
            return self.prompt.variables_of(prompt)
        except Exception as exc:  # e.g. a jinja syntax error in a RichPromptTemplate
            raise ValueError(str(exc)) from exc

    def placeholder(self, name: str) -> str:
        """How a variable is written in this template."""
        rich = isinstance(self.prompt.effective, RichPromptTemplate)
        return "{{ " + name + " }}" if rich else "{" + name + "}"

    def template(self, prompt: str) -> BasePromptTemplate:
        """The template (same class as the module's) holding ``prompt`` as its text."""
        return self.prompt.with_text(prompt)

    def module_for(self, prompt: str) -> PromptMixin:
        """A copy of the module with ``prompt`` applied (cached per text)."""
        if prompt in self._copies:
            self._copies.move_to_end(prompt)
            return self._copies[prompt]
        copy = with_prompt(self.module, self.key, self.template(prompt), inplace=False)
        self._copies[prompt] = copy
        while len(self._copies) > self._cache_size:
            self._copies.popitem(last=False)
        return copy

    @property
    def max_concurrency(self) -> int | None:
        """Queries at once over all ``arun`` calls (``None``: the engine's concurrency)."""
        return self.gate.limit

    async def _one(self, module: Any, example: Example) -> str:
        response = await module.aquery(_query_of(example, self.query_key))
        text = response.response if isinstance(response, Response) else str(response)
        prediction = self.parse(text or "")
        nodes = getattr(response, "source_nodes", None) or []
        self._contexts[(example.id, prediction)] = [n.node.get_content() for n in nodes]
        return prediction

    def contexts_for(self, example: Example, prediction: str) -> list[str] | None:
        """The texts retrieved when ``example`` was answered with ``prediction``."""
        return self._contexts.get((example.id, prediction))

    async def arun(
        self, prompt: str, examples: list[Example], engine: Engine
    ) -> list[str | Exception]:
        """One prediction per example, concurrently under the program's gate (shared by every
        concurrent call, sized from the engine's concurrency)."""
        module = self.module_for(prompt)
        return await self.gate.map(engine, lambda ex: self._one(module, ex), examples)


@dataclass
class LlamaIndexAPOResult(Generic[M]):
    """What :meth:`APOPromptOptimizer.optimize` returns.

    Attributes:
        module: the module now holding the best prompt (the user's own when ``inplace``).
        key: the optimized prompt's key.
        template: the optimized template (same class as the original).
        initial_template: the template before optimization.
        apo: the full apo_core result (scores with CIs, history, usage, config).
    """

    module: M
    key: str
    template: BasePromptTemplate
    initial_template: BasePromptTemplate
    apo: APOResult

    @property
    def best_prompt(self) -> str:
        """The optimized editable text."""
        return self.apo.best_prompt


def _as_chat_model(model: ChatModel | LLM | None) -> ChatModel | None:
    return LlamaIndexChatModel(model) if isinstance(model, LLM) else model


def _engine_of(module: PromptMixin) -> Engine | None:
    for _, sub in walk_prompt_modules(module):
        llm = module_llm(sub)
        if isinstance(llm, EngineLLM):
            return llm.engine
    return None


def _dataset(data: Any, output_key: str | None) -> Dataset:
    return (
        data if isinstance(data, Dataset) else Dataset(coerce_examples(data, output_key=output_key))
    )


class APOPromptOptimizer(Generic[M]):
    """Optimize the prompt at ``key`` of a query engine with APO (ProTeGi).

    Args:
        module: the query engine (any PromptMixin with ``aquery``).
        key: the prompt key at any depth, e.g. ``"response_synthesizer:text_qa_template"``.
        engine: runs the optimizer (and judge) calls. Default: the engine behind the module's
            ``EngineLLM`` when it has one (so task calls share its cache and budget), else a
            new engine over ``optimizer_model`` / ``judge_model``.
        optimizer_model: the optimizer role's model, an apo_core ChatModel or a LlamaIndex
            LLM (only without ``engine``).
        judge_model: the judge role's model, likewise (only without ``engine``).
        part: which message of a chat template is optimized (see :class:`QueryEngineProgram`).
        llm: the LLM that resolves selector templates (see :class:`QueryEngineProgram`).
        query_key: the input key holding the query (see :class:`QueryEngineProgram`).
        parse: turns a response into prediction text (see :class:`QueryEngineProgram`).
        max_concurrency: queries in flight at once (see :class:`QueryEngineProgram`).
        apo_config: :class:`apo_core.apo.APOConfig` fields (``rounds``, ``beam_size``, ...).

    Give the module an :class:`~llama_index_apo.EngineLLM` on the same engine so that task
    calls are cached, limited, budgeted and counted too; with any other LLM they go straight
    to that LLM.
    """

    def __init__(
        self,
        module: M,
        key: str,
        *,
        engine: Engine | None = None,
        optimizer_model: ChatModel | LLM | None = None,
        judge_model: ChatModel | LLM | None = None,
        part: Part = "user",
        llm: LLM | None = None,
        query_key: str = "query",
        parse: Callable[[str], str] | None = None,
        max_concurrency: int | None = None,
        **apo_config: Any,
    ) -> None:
        if engine is not None and (optimizer_model is not None or judge_model is not None):
            raise ConfigError("pass either engine or optimizer_model/judge_model, not both")
        if engine is None:
            roles = {
                role: chat
                for role, model in (("optimizer", optimizer_model), ("judge", judge_model))
                if (chat := _as_chat_model(model)) is not None
            }
            engine = _engine_of(module) if not roles else None
            engine = engine or Engine(_as_chat_model(optimizer_model), roles=roles)
        self.engine = engine
        self.module = module
        self.key = key
        self.query_key = query_key
        self.program = QueryEngineProgram(
            module,
            key,
            part=part,
            llm=llm,
            query_key=query_key,
            parse=parse,
            max_concurrency=max_concurrency,
        )
        self.apo = APO(engine, **apo_config)

    async def aoptimize(
        self,
        data: Any = None,
        *,
        metric: Any,
        train: Any = None,
        validation: Any = None,
        test: Any = None,
        output_key: str | None = None,
        inplace: bool = True,
        seed: int = 0,
        **optimize_kwargs: Any,
    ) -> LlamaIndexAPOResult[M]:
        """Run APO and apply the best prompt (in place and verified, or on a copy).

        Pass ``data`` (split 50/50 into train and validation with ``seed``) or explicit
        ``train``/``validation``: a Dataset, Examples, flat records (the query under
        ``query_key``, the answer under ``output_key``, default ``"label"``) or
        ``{"inputs", "outputs"}`` dicts (see :func:`apo_core.adapt.coerce_examples`).
        """
        if data is not None:
            if train is not None or validation is not None:
                raise ConfigError("pass data, or train and validation, not both")
            splits = _dataset(data, output_key).split(
                train=0.5, validation=0.5, test=0.0, seed=seed
            )
            train, validation = splits.train, splits.validation
        if train is None or validation is None:
            raise ConfigError("APOPromptOptimizer needs data, or train and validation")
        initial = self.program.prompt.template
        result = await self.apo.optimize(
            self.program.prompt.text,
            train=_dataset(train, output_key),
            validation=_dataset(validation, output_key),
            test=None if test is None else _dataset(test, output_key),
            metric=as_llama_metric(
                metric, query_key=self.query_key, contexts=self.program.contexts_for
            ),
            program=self.program,
            **optimize_kwargs,
        )
        best = self.program.template(result.best_prompt)
        target = self.module if inplace else copy_module(self.module)
        set_prompt(target, self.key, best)
        return LlamaIndexAPOResult(target, self.key, best, initial, result)

    def optimize(self, data: Any = None, **kwargs: Any) -> LlamaIndexAPOResult[M]:
        """Blocking :meth:`aoptimize`, usable inside or outside a running event loop."""
        return run_sync(self.aoptimize(data, **kwargs))
