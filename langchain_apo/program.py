"""ChainProgram: an apo_core PromptProgram that runs a LangChain chain with a candidate prompt.

For each candidate the chain is rebuilt with the candidate text at the target (the user's
chain is never touched) and run once per example, as many at once as the engine allows over
every candidate being scored (one :class:`~apo_core.program.ExampleGate` per program).
Optionally every chat model of the chain is routed through the engine first
(:func:`route_models`), so task calls share its cache, limits, budget and ledger.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import Callbacks
from langchain_core.language_models import BaseChatModel, BaseLanguageModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import BaseModel

from apo_core.engine import Engine
from apo_core.errors import ConfigError
from apo_core.program import IDENTIFIER, ExampleGate, warn_bypass
from apo_core.types import Role
from langchain_apo.models import EngineChatModel
from langchain_apo.walker import (
    Path,
    PromptRef,
    format_path,
    map_runnables,
    replace_prompt,
    with_text,
)

if TYPE_CHECKING:
    from apo_core.data import Example

__all__ = ["ChainProgram", "output_text", "route_models"]


def output_text(output: Any, output_key: str | None = None) -> str:
    """A chain output as the prediction text: str as is, a message's text, ``output[key]``
    of a dict, a pydantic model or other JSON-able value as JSON."""
    if output_key is not None and isinstance(output, dict):
        output = output[output_key]
    if isinstance(output, str):
        return output
    if isinstance(output, BaseMessage):
        return output.text
    if isinstance(output, BaseModel):
        return output.model_dump_json()
    if isinstance(output, dict | list | int | float | bool) or output is None:
        return json.dumps(output, ensure_ascii=False, sort_keys=True, default=str)
    return str(output)


def route_models(
    chain: Runnable[Any, Any], engine: Engine, role: Role = "task"
) -> Runnable[Any, Any]:
    """A NEW chain whose chat models are :class:`EngineChatModel` s on ``engine``'s ``role``.

    Bound call kwargs (``llm.bind(stop=...)``) are kept. Models already on ``engine`` are
    kept; an :class:`EngineChatModel` on another engine is moved to this one. Tool calling
    and ``with_structured_output`` of the original model are not carried over.
    """

    def swap(runnable: Runnable[Any, Any], path: tuple[str | int, ...]) -> Any:
        if isinstance(runnable, EngineChatModel):
            if runnable.engine is engine:
                return runnable
            return runnable.model_copy(update={"engine": engine, "role": role})
        if isinstance(runnable, BaseChatModel):
            return EngineChatModel(engine=engine, role=role)
        return None

    return map_runnables(chain, swap)


class ChainProgram:
    """Runs ``chain`` with a candidate text in place of ``target``'s text.

    Args:
        chain: the chain (or prompt-led runnable) whose prompt is optimized.
        target: the prompt text being optimized (see :func:`~langchain_apo.walker.select_prompt`).
        route: route the chain's chat models through the engine (see :func:`route_models`).
        output_key: for chains returning dicts, the key holding the prediction.
        parse: turns a chain output into the prediction (default :func:`output_text`).
        callbacks: LangChain callbacks for the chain runs (nested traces).
        max_concurrency: chain runs at once over all concurrent ``arun`` calls (APO scores
            several candidates at once); default the engine's ``max_concurrency``.
    """

    def __init__(
        self,
        chain: Runnable[Any, Any],
        target: PromptRef,
        *,
        route: bool = False,
        output_key: str | None = None,
        parse: Callable[[Any], str] | None = None,
        callbacks: Callbacks = None,
        max_concurrency: int | None = None,
    ) -> None:
        self.chain = chain
        self.target = target
        self.route = route
        self.output_key = output_key
        self.parse = parse
        self.callbacks = callbacks
        self.gate = ExampleGate(max_concurrency)
        self._routed: tuple[Engine, Runnable[Any, Any]] | None = None
        self._checked: Engine | None = None

    @property
    def max_concurrency(self) -> int | None:
        """Chain runs at once over all ``arun`` calls (``None``: the engine's concurrency)."""
        return self.gate.limit

    @property
    def template_format(self) -> str:
        """The target's template format (``f-string``, ``mustache``, ``jinja2``, ``literal``)."""
        return self.target.template_format

    def variables(self, prompt: str) -> set[str]:
        """Template variables of ``prompt`` by LangChain's parser for the target's format.

        Raises:
            ValueError: the text does not parse, or (f-string) a field is not a plain name.
        """
        found = self.target.variables(prompt)
        if self.template_format == "f-string":
            bad = sorted(v for v in found if not IDENTIFIER.match(v))
            if bad:
                raise ValueError(f"template fields {bad} are not plain variable names")
        return found

    def placeholder(self, name: str) -> str:
        """How variable ``name`` is written in the target's format."""
        if self.template_format == "mustache":
            return "{{" + name + "}}"
        if self.template_format == "jinja2":
            return "{{ " + name + " }}"
        return "{" + name + "}"

    def _base(self, engine: Engine) -> Runnable[Any, Any]:
        if not self.route:
            return self.chain
        if self._routed is None or self._routed[0] is not engine:
            self._routed = (engine, route_models(self.chain, engine))
        return self._routed[1]

    def check_engine(self, engine: Engine) -> None:
        """Check that the chain's task calls go through ``engine`` (once per engine by ``arun``).

        Raises:
            ConfigError: an :class:`EngineChatModel` of the chain is on another engine.

        Warns:
            EngineBypassWarning: ``engine`` has a budget and other language models of the
                chain (not routed, or not chat models) call their providers directly.
        """
        others: list[str] = []
        bypassing: list[str] = []

        def look(runnable: Runnable[Any, Any], path: Path) -> Runnable[Any, Any] | None:
            if isinstance(runnable, EngineChatModel):
                if runnable.engine is not engine:
                    others.append(format_path(path) or "<chain>")
                return runnable
            if isinstance(runnable, BaseLanguageModel):
                bypassing.append(runnable.get_name())
                return runnable
            return None

        map_runnables(self._base(engine), look)
        if others:
            raise ConfigError(
                f"the EngineChatModel at {', '.join(others)} runs on another engine than the "
                "optimizer's: use one engine, or route the chain's models (task_model=)"
            )
        warn_bypass(engine, bypassing, "pass task_model= to route the chain's chat models")
        self._checked = engine

    def chain_for(self, prompt: str, engine: Engine | None = None) -> Runnable[Any, Any]:
        """The chain with ``prompt`` as the target's text (routed when an engine is given)."""
        base = self.chain if engine is None else self._base(engine)
        return replace_prompt(base, self.target, with_text(self.target, prompt))

    def _text(self, output: Any) -> str:
        return self.parse(output) if self.parse else output_text(output, self.output_key)

    async def arun(
        self, prompt: str, examples: list[Example], engine: Engine
    ) -> list[str | Exception]:
        """One prediction per example; a failed example is returned as its exception."""
        if not examples:
            return []
        if self._checked is not engine:
            self.check_engine(engine)
        chain = self.chain_for(prompt, engine)
        config: RunnableConfig = {}
        if self.callbacks is not None:
            config["callbacks"] = self.callbacks

        async def one(example: Example) -> str:
            output = await chain.ainvoke(dict(example.inputs), config)
            return self._text(output)  # a bad output is one failed example, never fatal

        return await self.gate.map(engine, one, examples)
