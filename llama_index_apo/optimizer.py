"""APO for LlamaIndex: optimize one prompt of a query engine (or any PromptMixin) in place.

The search is :class:`apo_core.apo.APO`'s; the program is a
:class:`~llama_index_apo.programs.QueryEngineProgram` (a query engine, or a module inside one),
a :class:`~llama_index_apo.programs.SynthesizerProgram` (a response synthesizer answering from
the example's contexts) or the user's own; LlamaIndex evaluators become metrics
through :mod:`llama_index_apo.evaluators`. :class:`APOPromptOptimizer` wires them to an engine
and applies the best prompt in place (verified) or on a copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from llama_index.core.llms import LLM
from llama_index.core.prompts import BasePromptTemplate
from llama_index.core.prompts.mixin import PromptMixin
from llama_index_instrumentation import get_dispatcher

from apo_core import ChatModel, ConfigError, Engine
from apo_core.apo import APO, APOResult
from apo_core.data import DEFAULT_SPLIT, Dataset, coerce_examples
from apo_core.models import role_models
from apo_core.program import PromptProgram
from apo_core.sync import run_sync
from llama_index_apo.evaluators import as_llama_metric
from llama_index_apo.instrumentation import instrument_engine
from llama_index_apo.llms import ACCEPTS, EngineLLM, adapt_llm
from llama_index_apo.programs import QueryEngineProgram, SynthesizerProgram
from llama_index_apo.prompts import (
    EditablePrompt,
    Part,
    copy_module,
    find_prompt,
    module_llm,
    set_prompt,
    walk_prompt_modules,
)

__all__ = ["APOPromptOptimizer", "LlamaIndexAPOResult"]

M = TypeVar("M", bound=PromptMixin)
dispatcher = get_dispatcher(__name__)


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


def _default_program(
    module: PromptMixin, key: str, runner: PromptMixin | None, contexts_key: str, **kwargs: Any
) -> PromptProgram:
    runs = module if runner is None else runner
    if callable(getattr(runs, "aquery", None)):
        return QueryEngineProgram(module, key, runner=runner, **kwargs)
    if callable(getattr(runs, "asynthesize", None)):
        return SynthesizerProgram(module, key, runner=runner, contexts_key=contexts_key, **kwargs)
    raise ConfigError(
        f"{type(runs).__name__} has neither aquery() nor asynthesize(): pass runner=<the query "
        "engine that contains it>, or program=<a PromptProgram that runs it>"
    )


class APOPromptOptimizer(Generic[M]):
    """Optimize the prompt at ``key`` of a LlamaIndex module with APO (ProTeGi).

    Args:
        module: the module holding the prompt: a query engine, a response synthesizer, or
            any PromptMixin (then give ``runner`` or ``program``).
        key: the prompt key at any depth, e.g. ``"response_synthesizer:text_qa_template"``.
        engine: runs the optimizer (and judge) calls. Default: the engine behind the module's
            ``EngineLLM`` when it has one (so task calls share its cache and budget), else a
            new engine over ``optimizer_model`` / ``judge_model`` / ``task_model``, whose
            events go to LlamaIndex instrumentation (:func:`instrument_engine`).
        optimizer_model: the optimizer role's model, an apo_core ChatModel or a LlamaIndex
            LLM (only without ``engine``).
        judge_model: the judge role's model, likewise (only without ``engine``).
        task_model: the task role's model, likewise. With it every LLM of the module's
            copies is an :class:`~llama_index_apo.EngineLLM` on the engine's task role, so
            task calls are budgeted, cached and counted; the user's module keeps its LLMs.
            A selector template is resolved for the task model (unless ``llm`` is given).
        runner: the query engine that contains ``module`` and answers the examples (each
            candidate is tried on a copy of it); default ``module`` itself.
        program: a custom :class:`~apo_core.program.PromptProgram` to score candidates
            (then ``runner``, ``query_key``, ``parse``, ``max_concurrency`` and
            ``contexts_key`` are not used). Default: :class:`QueryEngineProgram` when the
            runner has ``aquery``, else :class:`SynthesizerProgram` when it has
            ``asynthesize``.
        contexts_key: for a synthesizer, the example input holding the context texts.
        part: which message of a chat template is optimized (see :class:`QueryEngineProgram`).
        llm: the LLM that resolves selector templates (see :class:`QueryEngineProgram`).
        query_key: the input key holding the query (see :class:`QueryEngineProgram`).
        parse: turns a response into prediction text (see :class:`QueryEngineProgram`).
        max_concurrency: queries in flight at once (see :class:`QueryEngineProgram`).
        apo_config: :class:`apo_core.apo.APOConfig` fields (``rounds``, ``beam_size``, ...).

    Task calls go through the engine (cached, limited, budgeted and counted) when the module's
    LLM is an :class:`~llama_index_apo.EngineLLM` on the same engine or ``task_model`` is given;
    with any other LLM they go straight to that LLM (a warning says so when the engine has a
    budget). An ``EngineLLM`` on another engine is an error.
    """

    def __init__(
        self,
        module: M,
        key: str,
        *,
        engine: Engine | None = None,
        optimizer_model: ChatModel | LLM | None = None,
        judge_model: ChatModel | LLM | None = None,
        task_model: ChatModel | LLM | None = None,
        runner: PromptMixin | None = None,
        program: PromptProgram | None = None,
        contexts_key: str = "contexts",
        part: Part = "user",
        llm: LLM | None = None,
        query_key: str = "query",
        parse: Callable[[str], str] | None = None,
        max_concurrency: int | None = None,
        **apo_config: Any,
    ) -> None:
        models = {"optimizer": optimizer_model, "judge": judge_model, "task": task_model}
        if engine is not None and any(m is not None for m in models.values()):
            raise ConfigError(
                "pass either engine or optimizer_model/judge_model/task_model, not both"
            )
        if program is not None and runner is not None:
            raise ConfigError("pass runner or program, not both (a program runs itself)")
        if program is not None and not isinstance(program, PromptProgram):
            raise ConfigError(
                f"program must be a PromptProgram (variables() and arun()), "
                f"not {type(program).__name__}"
            )
        if engine is None:
            roles = role_models(models, adapt_llm, ACCEPTS)
            found = _engine_of(runner) if runner is not None else None
            engine = (found or _engine_of(module)) if not roles else None
            if engine is None:
                engine = Engine(roles.get("optimizer"), roles=roles)
                instrument_engine(engine)  # its events reach LlamaIndex handlers too
        self.engine = engine
        self.module = module
        self.key = key
        self.query_key = query_key
        self.program: PromptProgram = program or _default_program(
            module,
            key,
            runner,
            contexts_key,
            part=part,
            llm=llm,
            query_key=query_key,
            parse=parse,
            max_concurrency=max_concurrency,
            task_llm=None if task_model is None else EngineLLM(engine, role="task"),
        )
        check = getattr(self.program, "check_engine", None)
        if callable(check):
            check(engine)  # before any call: a wrong engine is an error, a bypass warns
        own = getattr(self.program, "prompt", None)
        self.prompt: EditablePrompt = (
            own if isinstance(own, EditablePrompt) else find_prompt(module, key, llm=llm, part=part)
        )
        self.apo = APO(engine, **apo_config)

    @dispatcher.span
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
        split: tuple[float, float, float] = DEFAULT_SPLIT,
        **optimize_kwargs: Any,
    ) -> LlamaIndexAPOResult[M]:
        """Run APO and apply the best prompt (in place and verified, or on a copy).

        The run is a LlamaIndex instrumentation span: the engine's events (calls, rounds) nest
        under it in any span or event handler.

        Pass ``data`` (split into train, validation and test by ``split``, default
        :data:`apo_core.data.DEFAULT_SPLIT` 50/25/25, with ``seed``; the test part is scored
        once at the end) or explicit ``train``/``validation`` and optional ``test``: a
        Dataset, Examples, flat records (the query under ``query_key``, the answer under
        ``output_key``, default ``"label"``) or ``{"inputs", "outputs"}`` dicts (see
        :func:`apo_core.data.coerce_examples`).
        """
        if data is not None:
            if train is not None or validation is not None or test is not None:
                raise ConfigError("pass data, or train, validation (and test), not both")
            parts = _dataset(data, output_key).split(
                train=split[0], validation=split[1], test=split[2], seed=seed
            )
            train, validation = parts.train, parts.validation
            test = parts.test if len(parts.test) else None
        if train is None or validation is None:
            raise ConfigError("APOPromptOptimizer needs data, or train and validation")
        initial = self.prompt.template
        result = await self.apo.optimize(
            self.prompt.text,
            train=_dataset(train, output_key),
            validation=_dataset(validation, output_key),
            test=None if test is None else _dataset(test, output_key),
            metric=as_llama_metric(
                metric,
                query_key=self.query_key,
                contexts=getattr(self.program, "contexts_for", None),
            ),
            program=self.program,
            **optimize_kwargs,
        )
        best = self.prompt.with_text(result.best_prompt)
        target = self.module if inplace else copy_module(self.module)
        set_prompt(target, self.key, best)
        return LlamaIndexAPOResult(target, self.key, best, initial, result)

    def optimize(self, data: Any = None, **kwargs: Any) -> LlamaIndexAPOResult[M]:
        """Blocking :meth:`aoptimize`, usable inside or outside a running event loop."""
        return run_sync(self.aoptimize(data, **kwargs))
