"""APO for LlamaIndex: optimize prompts of a query engine (or any PromptMixin) in place.

The search is :class:`apo_core.apo.APO`'s; the program is a
:class:`~llama_index_apo.programs.QueryEngineProgram` (a query engine, or a module inside one),
a :class:`~llama_index_apo.programs.SynthesizerProgram` (a response synthesizer answering from
the example's contexts) or the user's own; LlamaIndex evaluators become metrics
through :mod:`llama_index_apo.evaluators`. :class:`APOPromptOptimizer` wires them to an engine
and applies the best prompt in place (verified) or on a copy. Several prompts of one module
(``targets=``) are optimized in turn by :func:`apo_core.apo.coordinate_ascent`, as LangChain's
``APOOptimizer`` does with its ``targets``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from llama_index.core.llms import LLM
from llama_index.core.prompts.mixin import PromptMixin
from llama_index_instrumentation import get_dispatcher

from apo_core import ChatModel, ConfigError, Engine
from apo_core.apo import APO, coordinate_ascent
from apo_core.data import DEFAULT_SPLIT, Dataset, Example, coerce_examples
from apo_core.models import role_models
from apo_core.program import PromptProgram
from apo_core.sync import run_sync
from llama_index_apo.evaluators import as_llama_metric
from llama_index_apo.instrumentation import instrument_engine
from llama_index_apo.llms import ACCEPTS, EngineLLM, adapt_llm
from llama_index_apo.programs import QueryEngineProgram, SynthesizerProgram, prefix_in
from llama_index_apo.prompts import (
    EditablePrompt,
    Part,
    copy_module,
    find_prompt,
    module_llm,
    set_prompt,
    walk_prompt_modules,
)
from llama_index_apo.result import LlamaIndexAPOResult, PromptTarget

__all__ = ["APOPromptOptimizer"]

M = TypeVar("M", bound=PromptMixin)
dispatcher = get_dispatcher(__name__)


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


def _targets(key: str | None, targets: Sequence[Any] | None, part: Part) -> list[PromptTarget]:
    if (key is None) == (targets is None):
        raise ConfigError(
            "pass key=<one prompt key> or targets=[<key> or (<key>, <part>), ...], not both"
            if key is not None
            else "say which prompt to optimize: key=<prompt key> or targets=[...]"
        )
    out: list[PromptTarget] = []
    for target in [key] if key is not None else list(targets or ()):
        if isinstance(target, str):
            out.append((target, part))
        elif (
            isinstance(target, tuple)
            and len(target) == 2
            and isinstance(target[0], str)
            and isinstance(target[1], str | int)
        ):
            out.append((target[0], target[1]))
        else:
            raise ConfigError(
                f"a target is a prompt key or a (key, part) pair such as "
                f"('response_synthesizer:text_qa_template', 'system'), not {target!r}"
            )
    twice = sorted({_name(t) for t in out if out.count(t) > 1})
    if twice:
        raise ConfigError(f"each target may be listed once; listed twice: {', '.join(twice)}")
    return out


def _name(target: PromptTarget) -> str:
    return f"{target[0]}[{target[1]}]"


class APOPromptOptimizer(Generic[M]):
    """Optimize prompts of a LlamaIndex module with APO (ProTeGi).

    Args:
        module: the module holding the prompt: a query engine, a response synthesizer, or
            any PromptMixin (then give ``runner`` or ``program``).
        key: the prompt key at any depth, e.g. ``"response_synthesizer:text_qa_template"``.
        targets: instead of ``key``, several texts to optimize in turn (coordinate ascent, as
            LangChain's ``APOOptimizer(targets=...)``): prompt keys, or ``(key, part)``
            pairs to optimize two messages of one chat template (``(key, "system")``,
            ``(key, "user")``). Each is optimized by a full APO run with the others holding
            their best text so far; ``passes`` repeats the sweep.
        passes: sweeps over ``targets``.
        engine: runs the optimizer (and judge) calls. Default: the engine behind the module's
            ``EngineLLM`` when it has one (so task calls share its cache and budget), else a
            new engine over ``optimizer_model`` / ``judge_model`` / ``task_model``, whose
            events go to LlamaIndex instrumentation (:func:`instrument_engine`).
        optimizer_model: the optimizer role's model, an apo_core ChatModel or a LlamaIndex
            LLM such as ``OpenAILike`` (only without ``engine``).
        judge_model: the judge role's model, likewise (only without ``engine``).
        task_model: the task role's model, likewise. With it every LLM of the module's
            copies is an :class:`~llama_index_apo.EngineLLM` on the engine's task role, so
            task calls are budgeted, cached and counted; the user's module keeps its LLMs.
            A selector template is resolved for the task model (unless ``llm`` is given).
        runner: the query engine that contains ``module`` and answers the examples (each
            candidate is tried on a copy of it); default ``module`` itself.
        program: a custom :class:`~apo_core.program.PromptProgram` to score candidates of the
            one prompt at ``key`` (then ``runner``, ``query_key``, ``parse``,
            ``max_concurrency`` and ``contexts_key`` are not used). Default:
            :class:`QueryEngineProgram` when the runner has ``aquery``, else
            :class:`SynthesizerProgram` when it has ``asynthesize``.
        contexts_key: for a synthesizer, the example input holding the context texts.
        part: which message of a chat template is optimized (see :class:`QueryEngineProgram`);
            the default part of plain-key targets.
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
        key: str | None = None,
        *,
        targets: Sequence[str | tuple[str, Part]] | None = None,
        passes: int = 1,
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
        self.targets: list[PromptTarget] = _targets(key, targets, part)
        if passes < 1:
            raise ConfigError("passes must be at least 1")
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
        if program is not None and len(self.targets) > 1:
            raise ConfigError(
                "program= scores candidates of one prompt; with several targets leave it out "
                "(each target gets its own QueryEngineProgram or SynthesizerProgram)"
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
        self.key = self.targets[0][0]
        self.passes = passes
        self.runner = runner
        self.query_key = query_key
        task_llm = None if task_model is None else EngineLLM(engine, role="task")
        self._selector_llm = llm or task_llm
        self._options: dict[str, Any] = {
            "part": part,
            "llm": llm,
            "query_key": query_key,
            "parse": parse,
            "max_concurrency": max_concurrency,
            "task_llm": task_llm,
            "contexts_key": contexts_key,
        }
        first, first_part = self.targets[0]
        self.program: PromptProgram = program or self._program(module, first, first_part, runner)
        check = getattr(self.program, "check_engine", None)
        if callable(check):
            check(engine)  # before any call: a wrong engine is an error, a bypass warns
        own = getattr(self.program, "prompt", None)
        self.prompts: list[EditablePrompt] = [
            find_prompt(module, k, llm=self._selector_llm or llm, part=p) for k, p in self.targets
        ]
        if isinstance(own, EditablePrompt):
            self.prompts[0] = own
        self.prompt: EditablePrompt = self.prompts[0]
        self.apo = APO(engine, **apo_config)

    def _program(
        self, module: PromptMixin, key: str, part: Part, runner: PromptMixin | None
    ) -> PromptProgram:
        options = {**self._options, "part": part}
        return _default_program(module, key, runner, options.pop("contexts_key"), **options)

    def _splits(
        self, data: Any, train: Any, validation: Any, test: Any, output_key: str | None, **how: Any
    ) -> tuple[Dataset, Dataset, Dataset | None]:
        if data is not None:
            if train is not None or validation is not None or test is not None:
                raise ConfigError("pass data, or train, validation (and test), not both")
            split, seed = how["split"], how["seed"]
            parts = _dataset(data, output_key).split(
                train=split[0], validation=split[1], test=split[2], seed=seed
            )
            train, validation = parts.train, parts.validation
            test = parts.test if len(parts.test) else None
        if train is None or validation is None:
            raise ConfigError("APOPromptOptimizer needs data, or train and validation")
        held_out = None if test is None else _dataset(test, output_key)
        return _dataset(train, output_key), _dataset(validation, output_key), held_out

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
        """Run APO and apply the best prompt(s) (in place and verified, or on a copy).

        The run is a LlamaIndex instrumentation span: the engine's events (calls, rounds) nest
        under it in any span or event handler.

        Pass ``data`` (split into train, validation and test by ``split``, default
        :data:`apo_core.data.DEFAULT_SPLIT` 50/25/25, with ``seed``; the test part is scored
        once at the end) or explicit ``train``/``validation`` and optional ``test``: a
        Dataset, Examples, flat records (the query under ``query_key``, the answer under
        ``output_key``, default ``"label"``) or ``{"inputs", "outputs"}`` dicts (see
        :func:`apo_core.data.coerce_examples`). With several targets, a ``checkpoint=`` file
        becomes one file per run (``run.json`` -> ``run.0.json``, ``run.1.json``, ...).
        """
        train_set, validation_set, test_set = self._splits(
            data, train, validation, test, output_key, split=split, seed=seed
        )
        several = len(self.targets) > 1 or self.passes > 1
        runs_on = self.module if self.runner is None else self.runner
        prefix = "" if self.runner is None else prefix_in(self.runner, self.module)
        work = copy_module(runs_on) if several else runs_on  # the earlier targets' best texts
        current = {"program": self.program}

        def prepare(target: PromptTarget) -> tuple[str, PromptProgram]:
            key, part = target
            if several:
                current["program"] = self._program(work, prefix + key, part, None)
                own = getattr(current["program"], "prompt", None)
                if isinstance(own, EditablePrompt):
                    return own.text, current["program"]
            return self.prompt.text, current["program"]

        def apply(target: PromptTarget, best: str) -> None:
            if several:
                key, part = prefix + target[0], target[1]
                view = find_prompt(work, key, llm=self._selector_llm, part=part)
                set_prompt(work, key, view.with_text(best))

        def contexts(example: Example, prediction: str) -> list[str] | None:
            found = getattr(current["program"], "contexts_for", None)
            return found(example, prediction) if callable(found) else None

        results = await coordinate_ascent(
            self.apo,
            self.targets,
            prepare=prepare,
            apply=apply,
            name=_name,
            passes=self.passes,
            train=train_set,
            validation=validation_set,
            test=test_set,
            metric=as_llama_metric(metric, query_key=self.query_key, contexts=contexts),
            **optimize_kwargs,
        )
        keys = list(dict.fromkeys(k for k, _ in self.targets))
        initial = {k: find_prompt(self.module, k).template for k in keys}
        if several:
            best = {k: find_prompt(work, prefix + k).template for k in keys}
        else:
            best = {self.key: self.prompt.with_text(results[-1].best_prompt)}
        target = self.module if inplace else copy_module(self.module)
        for key, template in best.items():
            set_prompt(target, key, template)
        return LlamaIndexAPOResult(
            module=target,
            key=self.key,
            template=best[self.key],
            initial_template=initial[self.key],
            apo=results[-1],
            results=results,
            targets=list(self.targets),
            templates=best,
            initial_templates=initial,
        )

    def optimize(self, data: Any = None, **kwargs: Any) -> LlamaIndexAPOResult[M]:
        """Blocking :meth:`aoptimize`, usable inside or outside a running event loop."""
        return run_sync(self.aoptimize(data, **kwargs))
