"""Programs for LlamaIndex modules: how a candidate prompt turns an example into a prediction.

:class:`QueryEngineProgram` (the ``PromptProgram`` contract of :mod:`apo_core.program`) puts a
candidate text into the template at ``key`` on a copy of the module (the user's stays
untouched) and runs ``aquery`` per example, with LlamaIndex's own variable parser deciding
what a valid candidate is.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from llama_index.core.base.response.schema import Response
from llama_index.core.llms import LLM
from llama_index.core.prompts import BasePromptTemplate, RichPromptTemplate
from llama_index.core.prompts.mixin import PromptMixin

from apo_core import ConfigError, Engine
from apo_core.data import Example
from apo_core.program import ExampleGate
from llama_index_apo.prompts import EditablePrompt, Part, find_prompt, with_prompt

__all__ = ["QueryEngineProgram", "query_of"]


def query_of(example: Example, query_key: str) -> str:
    """The query of ``example``: its ``query_key`` input, else its only input."""
    if query_key in example.inputs:
        return str(example.inputs[query_key])
    if len(example.inputs) == 1:
        return str(next(iter(example.inputs.values())))
    raise ConfigError(
        f"example {example.id} has no input {query_key!r} (inputs: {sorted(example.inputs)})"
    )


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
        response = await module.aquery(query_of(example, self.query_key))
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
