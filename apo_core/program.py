"""Programs: how a candidate prompt turns an example into a prediction.

A :class:`PromptProgram` knows two things about prompts: which template variables a prompt
has (by its own parser) and how to run a prompt over examples. :class:`TemplateProgram` is
the framework-neutral one: render the prompt as an f-string template with the example's
inputs, send it to the engine's ``task`` role at temperature 0, and parse the reply.
Adapters supply their own programs (a LangChain chain, a LlamaIndex query engine).
"""

from __future__ import annotations

import asyncio
import re
import string
import warnings
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, runtime_checkable

from apo_core.errors import ConfigError
from apo_core.types import Message

if TYPE_CHECKING:
    from apo_core.data import Example
    from apo_core.engine import Engine

TemplateFormat = Literal["f-string"]
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
"""A plain template variable name: what :func:`fstring_fields` accepts as a field."""
T = TypeVar("T")
R = TypeVar("R")


@runtime_checkable
class PromptProgram(Protocol):
    """Turns a candidate prompt and examples into predictions."""

    def variables(self, prompt: str) -> set[str]:
        """The template variables of ``prompt`` (raises ``ValueError`` if it does not parse)."""
        ...

    async def arun(
        self, prompt: str, examples: list[Example], engine: Engine
    ) -> list[str | Exception]:
        """One prediction per example; a failed example is returned as its exception."""
        ...


class EngineBypassWarning(UserWarning):
    """A program's task calls do not go through the engine, so its budget, cache and ledger
    do not see them."""


def warn_bypass(engine: Engine, models: Sequence[str], remedy: str) -> bool:
    """Warn (:class:`EngineBypassWarning`) that ``models`` answer without ``engine`` while the
    engine has a budget, which then cannot stop them. Returns whether it warned.

    Args:
        engine: the engine the program runs with.
        models: the task models that call their providers directly.
        remedy: how to route them through the engine.
    """
    budget = engine.budget.budget
    limited = (budget.max_calls, budget.max_tokens, budget.max_dollars) != (None, None, None)
    if not models or not limited:
        return False
    warnings.warn(
        f"the engine has a budget, but the task calls of {', '.join(sorted(set(models)))} do "
        f"not go through it: its budget, cache and ledger do not see them; {remedy}",
        EngineBypassWarning,
        stacklevel=3,
    )
    return True


class ExampleGate:
    """How many examples one program runs at once, over all its concurrent ``arun`` calls.

    APO scores several candidates at once, each through its own ``arun``; a limit applied per
    call would be multiplied by the number of candidates. A program holds one gate and runs
    every example through it. The semaphore is created lazily, one per event loop (asyncio
    primitives belong to one loop), sized ``limit`` or, when ``None``, the
    ``max_concurrency`` of the engine it is first used with on that loop.

    Args:
        limit: examples in flight at once; ``None`` for the engine's concurrency.
    """

    def __init__(self, limit: int | None = None) -> None:
        if limit is not None and limit < 1:
            raise ConfigError(f"max_concurrency must be at least 1, not {limit}")
        self.limit = limit
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def semaphore(self, engine: Engine) -> asyncio.Semaphore:
        """This event loop's semaphore (created on first use)."""
        loop = asyncio.get_running_loop()
        gate = self._by_loop.get(loop)
        if gate is None:
            gate = asyncio.Semaphore(self.limit or engine.limiter.max_concurrency)
            self._by_loop[loop] = gate
        return gate

    async def map(
        self, engine: Engine, fn: Callable[[T], Awaitable[R]], items: Iterable[T]
    ) -> list[R | Exception]:
        """``fn(item)`` for every item, concurrently through the gate, in order; an item
        that raised is returned as its exception."""
        gate = self.semaphore(engine)

        async def one(item: T) -> R | Exception:
            try:
                async with gate:
                    return await fn(item)
            except Exception as exc:  # a failed example is a value, never fatal
                return exc

        return list(await asyncio.gather(*(one(item) for item in items)))


def fstring_fields(template: str) -> list[str]:
    """The replacement fields of an f-string template, in order (repeats included).

    Raises:
        ValueError: the template does not parse (a lone brace), or a field is not a plain
            identifier (``{a.b}``, ``{0}``, ``{}``, conversions or format specs), which a
            prompt template must not use.
    """
    fields: list[str] = []
    for _literal, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if not IDENTIFIER.match(name) or spec or conversion:
            shown = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise ValueError(f"template field {{{shown}}} is not a plain variable name")
        fields.append(name)
    return fields


def render_fstring(template: str, values: Mapping[str, Any]) -> str:
    """Fill ``template``'s ``{name}`` fields with ``values``.

    Values are inserted as text and never parsed again, so braces in data are safe; only
    plain names are looked up (no attribute or index access).

    Raises:
        ValueError: the template does not parse.
        KeyError: a variable has no value.
    """
    parts: list[str] = []
    for literal, name, _spec, _conversion in string.Formatter().parse(template):
        parts.append(literal)
        if name is not None:
            if name not in values:
                raise KeyError(f"the example has no input named {name!r}")
            parts.append(str(values[name]))
    return "".join(parts)


def _default_parse(text: str) -> str:
    return text.strip()


class TemplateProgram:
    """Render the prompt with the example's inputs, ask the task model, parse the reply.

    Args:
        template_format: only ``"f-string"`` (``{name}`` fields, ``{{``/``}}`` for braces).
        system: an optional fixed system message sent before the rendered prompt.
        parse: turns the model's reply into the prediction; default strips whitespace.
        max_tokens: cap on the task model's reply (``None``: the engine's default).

    A prompt with no variables gets the example's inputs appended, one ``name: value`` line
    each, so instruction-only prompts (as in the ProTeGi paper) work too.
    """

    def __init__(
        self,
        template_format: str = "f-string",
        *,
        system: str | None = None,
        parse: Callable[[str], str] | None = None,
        max_tokens: int | None = None,
    ) -> None:
        if template_format != "f-string":
            raise ConfigError(
                f"TemplateProgram supports template_format='f-string' only, not {template_format!r}"
            )
        self.template_format: TemplateFormat = "f-string"
        self.system = system
        self.parse = parse or _default_parse
        self.max_tokens = max_tokens

    def variables(self, prompt: str) -> set[str]:
        """The template variables of ``prompt``."""
        return set(fstring_fields(prompt))

    def placeholder(self, name: str) -> str:
        """How variable ``name`` is written in this program's templates."""
        return "{" + name + "}"

    def render(self, prompt: str, inputs: Mapping[str, Any]) -> list[Message]:
        """The chat messages the task model receives for one example."""
        if self.variables(prompt):
            text = render_fstring(prompt, inputs)
        else:
            text = render_fstring(prompt, {})
            lines = "\n".join(f"{key}: {value}" for key, value in inputs.items())
            text = f"{text}\n\n{lines}" if lines else text
        messages = [Message(role="user", content=text)]
        if self.system:
            messages.insert(0, Message(role="system", content=self.system))
        return messages

    async def _one(self, prompt: str, example: Example, engine: Engine) -> str | Exception:
        try:
            messages = self.render(prompt, example.inputs)
            completion = await engine.complete(
                messages, role="task", temperature=0.0, max_tokens=self.max_tokens
            )
            return self.parse(completion.text)
        except Exception as exc:  # a failed example is a value, never fatal
            return exc

    async def arun(
        self, prompt: str, examples: list[Example], engine: Engine
    ) -> list[str | Exception]:
        """Predictions for ``examples``, all requests concurrent through the engine."""
        return list(await asyncio.gather(*(self._one(prompt, ex, engine) for ex in examples)))
