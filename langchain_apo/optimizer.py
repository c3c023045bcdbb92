"""APOOptimizer: ProTeGi prompt optimization of prompts inside LangChain chains, as a Runnable.

``await APOOptimizer(...).ainvoke({"chain": chain, "dataset": data})`` finds the prompt, runs
apo_core's :class:`~apo_core.apo.APO` with a :class:`~langchain_apo.program.ChainProgram` and
returns a :class:`LangChainAPOResult` holding a NEW chain with the optimized prompt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.language_models import BaseChatModel
from langchain_core.load import dumps
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import BasePromptTemplate
from langchain_core.runnables import ConfigurableField, Runnable, RunnableConfig
from langchain_core.runnables import RunnableSerializable as _Serializable
from pydantic import ConfigDict, Field

from apo_core.apo import APO, APOResult, coordinate_ascent
from apo_core.data import DEFAULT_SPLIT, Dataset, Example, coerce_examples
from apo_core.engine import Engine
from apo_core.errors import ConfigError
from apo_core.metrics import coerce_metric
from apo_core.models import role_models
from apo_core.sync import run_sync
from langchain_apo.models import EngineChatModel, LangChainChatModel
from langchain_apo.program import ChainProgram
from langchain_apo.walker import (
    Path,
    PromptRef,
    Target,
    format_path,
    map_runnables,
    replace_prompt,
    select_prompt,
    with_text,
)

__all__ = ["APOOptimizer", "LangChainAPOResult"]


def _prompt_at(chain: Runnable[Any, Any], path: Path) -> BasePromptTemplate[Any]:
    found: list[BasePromptTemplate[Any]] = []

    def grab(runnable: Runnable[Any, Any], at: Path) -> Runnable[Any, Any] | None:
        if at == path and isinstance(runnable, BasePromptTemplate):
            found.append(runnable)
            return runnable
        return None

    map_runnables(chain, grab)
    if not found:
        raise ConfigError(f"no prompt at path {path}")
    return found[0]


@dataclass(frozen=True)
class LangChainAPOResult:
    """What :class:`APOOptimizer` returns.

    Attributes:
        chain: a NEW chain (same type as the input) with the optimized prompt text(s).
        prompt: the optimized prompt object of the first target.
        result: the apo_core :class:`~apo_core.apo.APOResult` of the last optimized target.
        results: one APOResult per optimized target, in order (coordinate ascent).
        targets: the optimized texts (paths into ``chain``; a prompt object used at several
            paths lists the others in ``also_at`` and was replaced at all of them).
        original_chain: the chain as given (never modified).
        notes: what the caller should know, e.g. that a prompt was replaced at several paths.
    """

    chain: Runnable[Any, Any]
    prompt: BasePromptTemplate[Any]
    result: APOResult
    results: list[APOResult]
    targets: list[PromptRef]
    original_chain: Runnable[Any, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def prompts(self) -> dict[Path, BasePromptTemplate[Any]]:
        """The optimized prompt object at each path of each target (shared ones included)."""
        return {p: _prompt_at(self.chain, p) for ref in self.targets for p in ref.paths}

    def to_json(self, target: int | str | None = None, *, pretty: bool = True) -> str:
        """The optimized prompt(s) serialized with ``langchain_core.load.dumps``.

        Args:
            target: which target's prompt: an index into :attr:`targets`, or a target's
                name or location. ``None``: the prompt, when every target is a text of the
                same prompt object; otherwise a JSON object of every optimized prompt by
                location (``langchain_core.load.loads`` turns it into a dict of prompts).
            pretty: indent the JSON.

        Raises:
            ConfigError: no target has that index, name or location.
        """
        if target is not None:
            return dumps(_prompt_at(self.chain, self._target(target).path), pretty=pretty)
        by_location = {ref.location_of_prompt: ref for ref in self.targets}
        if len(by_location) == 1:
            return dumps(self.prompt, pretty=pretty)
        prompts = {loc: _prompt_at(self.chain, ref.path) for loc, ref in by_location.items()}
        return dumps(prompts, pretty=pretty)

    def _target(self, target: int | str) -> PromptRef:
        if isinstance(target, int):
            if 0 <= target < len(self.targets):
                return self.targets[target]
        else:
            for ref in self.targets:
                if target in (ref.name, ref.location, ref.location_of_prompt):
                    return ref
        listing = "; ".join(str(ref) for ref in self.targets)
        raise ConfigError(f"no optimized target {target!r}; the targets are: {listing}")

    def as_configurable_alternatives(
        self,
        field_id: str = "prompt_variant",
        *,
        default_key: str = "original",
        optimized_key: str = "optimized",
    ) -> Runnable[Any, Any]:
        """The original chain with each optimized prompt as a run-time alternative (A/B).

        ``chain.invoke(x, config={"configurable": {field_id: optimized_key}})`` uses the
        optimized prompt(s); the default key keeps the original.
        """
        switch = ConfigurableField(id=field_id, name="Prompt variant", is_shared=True)
        new_prompts = self.prompts
        keys: dict[str, Any] = {"default_key": default_key}

        def swap(runnable: Runnable[Any, Any], path: Path) -> Runnable[Any, Any] | None:
            if path in new_prompts and isinstance(runnable, BasePromptTemplate):
                alternatives: dict[str, Any] = {optimized_key: new_prompts[path]}
                return runnable.configurable_alternatives(switch, **keys, **alternatives)
            return None

        return map_runnables(self.original_chain, swap)


def _adapt(model: Any) -> LangChainChatModel | None:
    return LangChainChatModel(model) if isinstance(model, BaseChatModel) else None


def _engine_in(chain: Runnable[Any, Any]) -> Engine | None:
    engines: list[Engine] = []

    def look(runnable: Runnable[Any, Any], path: Path) -> Runnable[Any, Any] | None:
        if isinstance(runnable, EngineChatModel):
            engines.append(runnable.engine)
        return None

    map_runnables(chain, look)
    return engines[0] if engines else None


class APOOptimizer(_Serializable[dict[str, Any], LangChainAPOResult]):
    """Optimize prompts inside a LangChain chain with APO (ProTeGi), as a Runnable.

    Input: ``{"chain": <prompt or chain>, "dataset": <data>}`` or ``train``/``validation``/
    ``test`` instead of ``dataset``; optional ``metric`` and ``targets`` override the fields.
    Data: an apo_core Dataset, examples, records, or LangSmith-style examples.

    Attributes:
        engine: runs every call; default: the engine of an :class:`EngineChatModel` in the
            chain, else a new one from the models below (unset roles: the embedded model).
        optimizer_model: the model that writes gradients, edits and paraphrases (a LangChain
            chat model or an apo_core model).
        task_model: the model of the engine's task role. With it the chain's chat models are
            routed through the engine; without it the chain runs with its own models (a bare
            prompt always gets the engine's task model), which a budgeted engine warns about
            (:class:`~apo_core.program.EngineBypassWarning`); an :class:`EngineChatModel` on
            another engine is an error.
        judge_model: the model of LLM-judge metrics.
        metric: an apo_core metric, a ``(prediction, example)`` function, a built-in name or
            a LangSmith-style evaluator. Default ``"exact_match"``.
        targets: prompt texts to optimize in turn (index, name, role, prompt or PromptRef);
            default: the system message of the first prompt, else its only text.
        passes: coordinate-ascent passes over ``targets``.
        split: train/validation/test fractions for a single ``dataset`` (default
            :data:`apo_core.data.DEFAULT_SPLIT`, 50/25/25).
        input_keys: the record keys that become chain inputs (default: all but the label).
        label_key: the record key holding the expected output.
        output_key: the key of a dict chain output holding the prediction.
        parse: turns a chain output into prediction text.
        trace_runs: pass the optimizer run's callbacks to every chain run (nested traces).
        apo: :class:`~apo_core.apo.APOConfig` overrides (``rounds``, ``beam_size``, ...).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    engine: Engine | None = None
    optimizer_model: Any = None
    task_model: Any = None
    judge_model: Any = None
    metric: Any = "exact_match"
    targets: list[Any] | None = None
    passes: int = Field(default=1, ge=1)
    split: tuple[float, float, float] = DEFAULT_SPLIT
    input_keys: list[str] | None = None
    label_key: str | None = None
    output_key: str | None = None
    parse: Callable[[Any], str] | None = None
    trace_runs: bool = True
    apo: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return False

    def _engine(self, chain: Runnable[Any, Any]) -> Engine:
        given = {"optimizer": self.optimizer_model, "task": self.task_model}
        roles = role_models({**given, "judge": self.judge_model}, _adapt, "a LangChain chat model")
        engine = self.engine or (None if roles else _engine_in(chain))
        if engine is not None:
            if roles:
                raise ConfigError(
                    "pass the models either to Engine(roles=...) or to APOOptimizer, not both"
                )
            return engine
        return Engine(roles=roles)

    def _splits(
        self, data: dict[str, Any]
    ) -> tuple[list[Example], list[Example], list[Example] | None]:
        def coerce(value: Any) -> list[Example]:
            return coerce_examples(value, input_keys=self.input_keys, output_key=self.label_key)

        if "train" in data:
            if "validation" not in data:
                raise ConfigError("with 'train', also pass 'validation' (or pass 'dataset')")
            test = coerce(data["test"]) if data.get("test") is not None else None
            return coerce(data["train"]), coerce(data["validation"]), test
        if "dataset" not in data:
            raise ConfigError("the input needs 'dataset' (or 'train' and 'validation')")
        parts = Dataset(coerce(data["dataset"])).split(
            train=self.split[0],
            validation=self.split[1],
            test=self.split[2],
            seed=int(self.apo.get("seed", 0)),
        )
        return list(parts.train), list(parts.validation), list(parts.test) or None

    async def _optimize(self, data: dict[str, Any], callbacks: Any) -> LangChainAPOResult:
        if not isinstance(data, dict) or "chain" not in data:
            raise ConfigError("APOOptimizer takes {'chain': ..., 'dataset': ...}")
        original: Runnable[Any, Any] = data["chain"]
        if not isinstance(original, Runnable):
            raise ConfigError(f"'chain' must be a prompt or a Runnable, not {type(original)}")
        engine = self._engine(original)
        bare = isinstance(original, BasePromptTemplate)
        runnable = (
            original | EngineChatModel(engine=engine, role="task") | StrOutputParser()
            if bare
            else original
        )
        train, validation, test = self._splits(data)
        metric = coerce_metric(data.get("metric", self.metric))
        wanted: Sequence[Target] = data.get("targets") or self.targets or [None]
        refs = [select_prompt(original, t) for t in wanted]
        route = self.task_model is not None
        state = {"chain": original, "run": runnable}

        def prepare(ref: PromptRef) -> tuple[str, ChainProgram]:
            run_ref = select_prompt(state["run"], _shifted(ref, bare))
            program = ChainProgram(
                state["run"],
                run_ref,
                route=route,
                output_key=self.output_key,
                parse=self.parse,
                callbacks=callbacks if self.trace_runs else None,
            )
            return run_ref.text, program

        def apply(ref: PromptRef, best: str) -> None:
            for key, at in (("chain", ref), ("run", _shifted(ref, bare))):
                found = select_prompt(state[key], at)
                state[key] = replace_prompt(state[key], found, with_text(found, best))

        results = await coordinate_ascent(
            APO(engine, **self.apo),
            refs,
            prepare=prepare,
            apply=apply,
            name=lambda ref: ref.location,
            passes=self.passes,
            train=train,
            validation=validation,
            test=test,
            metric=metric,
        )
        current = state["chain"]
        final_refs = [select_prompt(current, ref) for ref in refs]
        notes = [
            f"the prompt at {ref.location} is also used at "
            f"{', '.join(format_path(p) or '<chain>' for p in ref.also_at)}: the optimized "
            "text replaced it there too"
            for ref in final_refs
            if ref.also_at
        ]
        return LangChainAPOResult(
            chain=current,
            prompt=_prompt_at(current, final_refs[0].path),
            result=results[-1],
            results=results,
            targets=final_refs,
            original_chain=original,
            notes=notes,
        )

    async def _arun(
        self,
        data: dict[str, Any],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> LangChainAPOResult:
        return await self._optimize(data, run_manager.get_child())

    def _run(
        self, data: dict[str, Any], run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> LangChainAPOResult:
        return run_sync(self._optimize(data, run_manager.get_child()))

    def invoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> LangChainAPOResult:
        """Optimize (blocking; inside a running loop it runs on a worker thread)."""
        return self._call_with_config(self._run, input, config, run_type="chain")

    async def ainvoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> LangChainAPOResult:
        """Optimize the chain's prompt(s) on the data."""
        return await self._acall_with_config(self._arun, input, config, run_type="chain")

    async def aoptimize(
        self, chain: Runnable[Any, Any], dataset: Any = None, **inputs: Any
    ) -> LangChainAPOResult:
        """``ainvoke({"chain": chain, "dataset": dataset, **inputs})``."""
        data = {"chain": chain, **({"dataset": dataset} if dataset is not None else {}), **inputs}
        return await self.ainvoke(data)

    def optimize(
        self, chain: Runnable[Any, Any], dataset: Any = None, **inputs: Any
    ) -> LangChainAPOResult:
        """Blocking :meth:`aoptimize`."""
        data = {"chain": chain, **({"dataset": dataset} if dataset is not None else {}), **inputs}
        return self.invoke(data)


def _shifted(ref: PromptRef, bare: bool) -> PromptRef:
    """``ref`` as seen from ``prompt | llm | parser`` when the user passed a bare prompt."""
    if not bare:
        return ref
    return replace(
        ref, path=("first", *ref.path), also_at=tuple(("first", *p) for p in ref.also_at)
    )
