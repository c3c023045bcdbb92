"""Programs for LlamaIndex modules: how a candidate prompt turns an example into a prediction.

Both implement the ``PromptProgram`` contract of :mod:`apo_core.program`: a candidate text goes
into the template at ``key`` on a copy of the module (the user's stays untouched), with
LlamaIndex's own variable parser deciding what a valid candidate is, and the copy answers
each example.

* :class:`QueryEngineProgram` runs ``aquery(query)``: a query engine, or any prompt module
  inside one (``runner=`` is the query engine that contains it).
* :class:`SynthesizerProgram` runs ``asynthesize(query, nodes)`` on a response synthesizer, the
  nodes taken from the example (its ``contexts`` input): no retrieval needed.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from llama_index.core.base.llms.base import BaseLLM
from llama_index.core.base.response.schema import Response
from llama_index.core.llms import LLM
from llama_index.core.prompts import BasePromptTemplate, RichPromptTemplate
from llama_index.core.prompts.mixin import PromptMixin
from llama_index.core.schema import BaseNode, NodeWithScore, TextNode

from apo_core import ConfigError, Engine
from apo_core.data import Example
from apo_core.program import ExampleGate, warn_bypass
from llama_index_apo.llms import EngineLLM
from llama_index_apo.prompts import (
    EditablePrompt,
    Part,
    find_prompt,
    walk_prompt_modules,
    with_prompt,
)

__all__ = ["QueryEngineProgram", "SynthesizerProgram", "as_nodes"]


def query_of(example: Example, query_key: str, *, exclude: Sequence[str] = ()) -> str:
    """The query of ``example``: its ``query_key`` input, else its only input (not counting
    the ``exclude`` keys)."""
    if query_key in example.inputs:
        return str(example.inputs[query_key])
    rest = [v for k, v in example.inputs.items() if k not in exclude]
    if len(rest) == 1:
        return str(rest[0])
    raise ConfigError(
        f"example {example.id} has no input {query_key!r} (inputs: {sorted(example.inputs)})"
    )


def as_nodes(value: Any) -> list[NodeWithScore]:
    """Nodes for ``asynthesize`` from a text, a list of texts, nodes or scored nodes.

    Raises:
        ConfigError: an item is none of these.
    """
    items = [value] if isinstance(value, str | BaseNode | NodeWithScore) else value
    if not isinstance(items, list | tuple):
        raise ConfigError(f"contexts must be a text or a list of texts, not {type(value).__name__}")
    nodes: list[NodeWithScore] = []
    for item in items:
        if isinstance(item, NodeWithScore):
            nodes.append(item)
        elif isinstance(item, BaseNode):
            nodes.append(NodeWithScore(node=item))
        elif isinstance(item, str):
            nodes.append(NodeWithScore(node=TextNode(text=item)))
        else:
            raise ConfigError(f"a context must be a text or a node, not {type(item).__name__}")
    return nodes


def prefix_in(runner: PromptMixin, module: PromptMixin) -> str:
    """The key prefix of ``module`` inside ``runner`` (``""`` for the runner itself)."""
    for prefix, sub in walk_prompt_modules(runner):
        if sub is module:
            return prefix
    raise ConfigError(
        f"the {type(module).__name__} is not one of the prompt modules of the runner "
        f"{type(runner).__name__}"
    )


def _llm_slots(module: PromptMixin) -> list[tuple[str, PromptMixin, str, BaseLLM]]:
    """``(key prefix, module, attribute, LLM)`` for every prompt module holding an LLM."""
    slots = []
    for prefix, sub in walk_prompt_modules(module):
        for attr in ("_llm", "llm"):
            try:
                value = getattr(sub, attr, None)
            except Exception:  # a property that cannot be read (e.g. Settings.llm unset)
                continue
            if isinstance(value, BaseLLM):
                slots.append((prefix, sub, attr, value))
                break
    return slots


def _put_llm(module: PromptMixin, llm: LLM) -> None:
    for _, sub, attr, _ in _llm_slots(module):
        setattr(sub, attr, llm)


class _ModuleProgram:
    """What both programs share: the editable prompt, candidate copies, the gate, contexts."""

    method = ""

    def __init__(
        self,
        module: PromptMixin,
        key: str,
        *,
        runner: PromptMixin | None = None,
        part: Part = "user",
        llm: LLM | None = None,
        query_key: str = "query",
        parse: Callable[[str], str] | None = None,
        max_concurrency: int | None = None,
        cache_size: int = 16,
        task_llm: LLM | None = None,
        contexts_size: int = 4096,
    ) -> None:
        self.module = module
        self.key = key
        self.runner = module if runner is None else runner
        self.run_key = key if runner is None else prefix_in(runner, module) + key
        if not callable(getattr(self.runner, self.method, None)):
            raise ConfigError(self._missing())
        self.task_llm = task_llm
        self.prompt: EditablePrompt = find_prompt(module, key, llm=llm or task_llm, part=part)
        self.query_key = query_key
        self.parse = parse or str.strip
        self.gate = ExampleGate(max_concurrency)
        self._copies: OrderedDict[str, PromptMixin] = OrderedDict()
        self._cache_size = cache_size
        self._contexts: OrderedDict[tuple[str, str], list[str]] = OrderedDict()
        self._contexts_size = contexts_size
        self._checked: Engine | None = None

    def _missing(self) -> str:
        return f"{type(self.runner).__name__} has no {self.method}()"

    @property
    def max_concurrency(self) -> int | None:
        """Examples at once over all ``arun`` calls (``None``: the engine's concurrency)."""
        return self.gate.limit

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
        """A copy of the runner (the module itself unless ``runner`` was given) with
        ``prompt`` applied (cached per text)."""
        if prompt in self._copies:
            self._copies.move_to_end(prompt)
            return self._copies[prompt]
        copy = with_prompt(self.runner, self.run_key, self.template(prompt))
        if self.task_llm is not None:
            _put_llm(copy, self.task_llm)
        self._copies[prompt] = copy
        while len(self._copies) > self._cache_size:
            self._copies.popitem(last=False)
        return copy

    def check_engine(self, engine: Engine) -> None:
        """Check that the task calls go through ``engine`` (done once per engine by ``arun``).

        Raises:
            ConfigError: an :class:`~llama_index_apo.EngineLLM` that would answer (the
                ``task_llm``, else a module's own LLM) is on another engine.

        Warns:
            EngineBypassWarning: ``engine`` has a budget and other LLMs answer directly.
        """
        llms: list[tuple[str, BaseLLM]]
        if self.task_llm is not None:
            llms = [("task_llm", self.task_llm)]
        else:
            llms = [
                (prefix.rstrip(":") or "the module", llm)
                for prefix, _, _, llm in _llm_slots(self.runner)
            ]
        others = [
            where for where, llm in llms if isinstance(llm, EngineLLM) and llm.engine is not engine
        ]
        if others:
            raise ConfigError(
                f"the EngineLLM of {', '.join(others)} runs on another engine than the "
                "optimizer's: use one engine, or pass task_model= to run the task on this one"
            )
        bypassing = [type(llm).__name__ for _, llm in llms if not isinstance(llm, EngineLLM)]
        warn_bypass(engine, bypassing, "pass task_model= to run the task through the engine")
        self._checked = engine

    async def _respond(self, runner: Any, example: Example) -> Any:
        raise NotImplementedError

    async def _one(self, runner: Any, example: Example) -> str:
        response = await self._respond(runner, example)
        text = response.response if isinstance(response, Response) else str(response)
        prediction = self.parse(text or "")
        nodes = getattr(response, "source_nodes", None) or []
        self._contexts[(example.id, prediction)] = [n.node.get_content() for n in nodes]
        self._contexts.move_to_end((example.id, prediction))
        while len(self._contexts) > self._contexts_size:
            self._contexts.popitem(last=False)
        return prediction

    def contexts_for(self, example: Example, prediction: str) -> list[str] | None:
        """The context texts the answer was given when ``example`` got ``prediction`` (one of
        the last ``contexts_size`` answers), else ``None``."""
        return self._contexts.get((example.id, prediction))

    async def arun(
        self, prompt: str, examples: list[Example], engine: Engine
    ) -> list[str | Exception]:
        """One prediction per example, concurrently under the program's gate (shared by every
        concurrent call, sized from the engine's concurrency)."""
        if self._checked is not engine:
            self.check_engine(engine)
        runner = self.module_for(prompt)
        return await self.gate.map(engine, lambda ex: self._one(runner, ex), examples)


class QueryEngineProgram(_ModuleProgram):
    """The ``PromptProgram`` of a query engine: candidate text -> template at ``key`` ->
    ``aquery`` per example on a copy.

    Args:
        module: the module holding the prompt at ``key``: a query engine, or (with
            ``runner``) any prompt module inside one, such as its response synthesizer.
        key: the prompt key in ``module``, any depth (``"response_synthesizer:text_qa_template"``).
        runner: the query engine that runs ``module`` (default: ``module`` itself); each
            candidate is tried on a copy of it.
        part: which chat message is edited (``"user"``, ``"system"`` or an index).
        llm: resolves selector templates; default the module's own LLM.
        query_key: the example input holding the query.
        parse: turns the response text into the prediction; default strips whitespace.
        max_concurrency: queries in flight at once over all concurrent ``arun`` calls (APO
            scores several candidates at once); default the engine's concurrency.
        cache_size: runner copies kept (one per candidate text).
        task_llm: put in place of every LLM of the copies (e.g. an ``EngineLLM``, so the
            engine's budget, cache and ledger see the task calls); it resolves selectors too.
        contexts_size: the most recent (example, prediction) contexts kept for metrics (see
            :meth:`contexts_for`); older ones are dropped.
    """

    method = "aquery"

    def _missing(self) -> str:
        return (
            f"{type(self.runner).__name__} has no aquery(); pass runner=<the query engine "
            "that contains it>, or use SynthesizerProgram for a response synthesizer"
        )

    async def _respond(self, runner: Any, example: Example) -> Any:
        return await runner.aquery(query_of(example, self.query_key))


class SynthesizerProgram(_ModuleProgram):
    """The ``PromptProgram`` of a response synthesizer: candidate text -> template at ``key``
    -> ``asynthesize(query, nodes)`` per example, the nodes from the example's contexts.

    Args:
        module: the response synthesizer (anything with ``asynthesize``) holding the prompt.
        key: the prompt key in ``module`` (``"text_qa_template"``, ``"refine_template"``).
        contexts_key: the example input holding the context: a text, a list of texts,
            nodes or scored nodes.
        options: ``runner``, ``part``, ``llm``, ``query_key``, ``parse``,
            ``max_concurrency``, ``cache_size``, ``task_llm`` and ``contexts_size``, as for
            :class:`QueryEngineProgram`.
    """

    method = "asynthesize"

    def __init__(
        self, module: PromptMixin, key: str, *, contexts_key: str = "contexts", **options: Any
    ) -> None:
        super().__init__(module, key, **options)
        self.contexts_key = contexts_key

    async def _respond(self, runner: Any, example: Example) -> Any:
        if self.contexts_key not in example.inputs:
            raise ConfigError(
                f"example {example.id} has no input {self.contexts_key!r} with the contexts to "
                f"synthesize from (inputs: {sorted(example.inputs)})"
            )
        query = query_of(example, self.query_key, exclude=(self.contexts_key,))
        return await runner.asynthesize(query, as_nodes(example.inputs[self.contexts_key]))
