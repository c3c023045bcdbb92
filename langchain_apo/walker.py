"""Find, read and replace prompt templates inside any LangChain chain.

Chains are walked through the pydantic fields of their runnables (``RunnableSequence``,
``RunnableParallel``, bindings, retries, fallbacks, branches, assign, configurable
fields and alternatives, ...). Each editable template text is a :class:`PromptRef`: a
``PromptTemplate``'s template, or one message of a ``ChatPromptTemplate``. Replacing rebuilds
the prompt (so input variables are recomputed) and returns a NEW chain: the user's chain is
never mutated. A ``RunnableLambda`` (or any non-pydantic runnable) is opaque: prompts built
inside its function cannot be found.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.prompts import BasePromptTemplate, ChatPromptTemplate, PromptTemplate
from langchain_core.prompts.chat import ChatMessagePromptTemplate, _StringImageMessagePromptTemplate
from langchain_core.prompts.string import get_template_variables
from langchain_core.runnables import Runnable
from pydantic import BaseModel

from apo_core.errors import ConfigError

__all__ = [
    "PromptNotFoundError",
    "PromptRef",
    "find_prompts",
    "format_path",
    "map_runnables",
    "replace_prompt",
    "replace_text",
    "select_prompt",
    "template_variables",
    "with_text",
]

Path = tuple[str | int, ...]
Mapper = Callable[[Runnable[Any, Any], Path], Runnable[Any, Any] | None]

_ROLE_ALIASES = {"user": "human", "assistant": "ai", "developer": "system"}
_COMPUTED = ("input_variables", "optional_variables")


class PromptNotFoundError(ConfigError, LookupError):
    """No (matching) editable prompt template in the chain."""


@dataclass(frozen=True)
class PromptRef:
    """One editable template text inside a chain.

    Attributes:
        index: position among all editable texts of the chain, in walk order.
        path: field path from the chain to the prompt object (``("first",)``, ...).
        name: ``<prompt name>`` for a string prompt, ``<prompt name>.<role>`` for a message
            (``[i]`` added when a role repeats); the prompt name is its ``name`` or ``promptN``.
        role: the message role (``system``, ``human``, ``ai``, ...) or ``None``.
        prompt: the prompt object holding the text.
        message_index: the message's index in ``prompt.messages`` (``None`` for a string prompt).
        also_at: other paths where the same prompt object is used; replacing the text
            replaces it there too (it is one prompt).
    """

    index: int
    path: Path
    name: str
    role: str | None
    prompt: BasePromptTemplate[Any] = field(repr=False, compare=False)
    message_index: int | None = None
    also_at: tuple[Path, ...] = ()

    @property
    def paths(self) -> tuple[Path, ...]:
        """Every path of the prompt object: :attr:`path` first, then :attr:`also_at`."""
        return (self.path, *self.also_at)

    @property
    def location(self) -> str:
        """The path as text, e.g. ``first`` or ``steps__['a'].first.messages[0]``."""
        text = self.location_of_prompt
        return text if self.message_index is None else f"{text}.messages[{self.message_index}]"

    @property
    def location_of_prompt(self) -> str:
        """The prompt object's path as text (``<chain>`` for the chain itself)."""
        return format_path(self.path) or "<chain>"

    @property
    def template_format(self) -> str:
        """``f-string``, ``mustache`` or ``jinja2``; ``literal`` for a static message."""
        holder = self._holder()
        if isinstance(holder, PromptTemplate):
            return str(holder.template_format)
        return "literal"

    @property
    def text(self) -> str:
        """The current editable text."""
        holder = self._holder()
        if isinstance(holder, PromptTemplate):
            return holder.template
        if isinstance(holder, BaseMessage):
            return holder.text
        raise PromptNotFoundError(f"{self.location} holds no editable text")

    def variables(self, text: str | None = None) -> set[str]:
        """Template variables of ``text`` (default: the current text), by LangChain's parser."""
        return template_variables(self.text if text is None else text, self.template_format)

    def _holder(self) -> PromptTemplate | BaseMessage | None:
        if self.message_index is None:
            return self.prompt if isinstance(self.prompt, PromptTemplate) else None
        message = self.prompt.messages[self.message_index]  # type: ignore[attr-defined]
        if isinstance(message, BaseMessage):
            return message
        inner = getattr(message, "prompt", None)
        return inner if isinstance(inner, PromptTemplate) else None

    def __str__(self) -> str:
        role = f" ({self.role})" if self.role else ""
        shared = "".join(f", also at {format_path(p) or '<chain>'}" for p in self.also_at)
        return f"[{self.index}] {self.name}{role} at {self.location}{shared}"


def template_variables(text: str, template_format: str) -> set[str]:
    """The variables of ``text`` as LangChain parses ``template_format`` (none for literal)."""
    if template_format == "literal":
        return set()
    return set(get_template_variables(text, template_format))


def format_path(path: Path) -> str:
    """A field path as text, e.g. ``steps__['a'].first``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out.lstrip(".")


def _fields(obj: BaseModel) -> list[str]:
    names = list(type(obj).model_fields)
    if type(obj).__name__ == "RunnableConfigurableAlternatives":
        names.remove("default")
        names.insert(0, "default")
    return names


def _walk_value(value: Any, fn: Mapper, path: Path, opaque: list[Path]) -> Any:
    if isinstance(value, Runnable):
        return map_runnables(value, fn, path, opaque)
    if isinstance(value, list | tuple):
        items = [_walk_value(v, fn, (*path, i), opaque) for i, v in enumerate(value)]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        new = {k: _walk_value(v, fn, (*path, str(k)), opaque) for k, v in value.items()}
        return value if all(new[k] is value[k] for k in value) else new
    return value


def map_runnables(
    chain: Runnable[Any, Any], fn: Mapper, path: Path = (), opaque: list[Path] | None = None
) -> Runnable[Any, Any]:
    """A copy of ``chain`` with each sub-runnable ``r`` at ``path`` replaced by ``fn(r, path)``.

    ``fn`` returns ``None`` to keep walking into ``r``. Containers on the way to a change are
    shallow-copied with ``model_copy``; nothing is mutated. Non-pydantic runnables (such as
    ``RunnableLambda``) are opaque; their paths are appended to ``opaque`` when given.
    """
    replacement = fn(chain, path)
    if replacement is not None:
        return replacement
    if isinstance(chain, BasePromptTemplate):
        return chain
    if not isinstance(chain, BaseModel):
        if opaque is not None:
            opaque.append(path)
        return chain
    updates: dict[str, Any] = {}
    for name in _fields(chain):
        value = getattr(chain, name, None)
        new = _walk_value(value, fn, (*path, name), [] if opaque is None else opaque)
        if new is not value:
            updates[name] = new
    return chain.model_copy(update=updates) if updates else chain


def _role_of(message: Any) -> str | None:
    if isinstance(message, BaseMessage):
        return message.type
    if isinstance(message, ChatMessagePromptTemplate):
        return message.role
    if isinstance(message, _StringImageMessagePromptTemplate):
        name = type(message).__name__.removesuffix("MessagePromptTemplate").lower()
        return name or None
    return None


def _editable(message: Any) -> bool:
    if isinstance(message, BaseMessage):
        return isinstance(message.content, str)
    return isinstance(message, _StringImageMessagePromptTemplate) and isinstance(
        message.prompt, PromptTemplate
    )


def _refs_of(
    prompt: BasePromptTemplate[Any], path: Path, ordinal: int, start: int
) -> list[PromptRef]:
    base = prompt.name or f"prompt{ordinal}"
    if isinstance(prompt, PromptTemplate):
        return [PromptRef(start, path, base, None, prompt)]
    if not isinstance(prompt, ChatPromptTemplate):
        return []
    slots = [(i, _role_of(m)) for i, m in enumerate(prompt.messages) if _editable(m)]
    roles = [role for _, role in slots]
    refs: list[PromptRef] = []
    for i, role in slots:
        name = f"{base}.{role}" + (f"[{i}]" if roles.count(role) > 1 else "")
        refs.append(PromptRef(start + len(refs), path, name, role, prompt, i))
    return refs


def find_prompts(chain: Runnable[Any, Any]) -> list[PromptRef]:
    """Every editable template text in ``chain`` (or in the prompt itself), in walk order."""
    return _scan(chain)[0]


def _scan(chain: Runnable[Any, Any]) -> tuple[list[PromptRef], list[Path], list[str]]:
    refs: list[PromptRef] = []
    opaque: list[Path] = []
    skipped: list[str] = []
    ordinal = 0

    def visit(runnable: Runnable[Any, Any], path: Path) -> Runnable[Any, Any] | None:
        nonlocal ordinal
        if isinstance(runnable, BasePromptTemplate):
            found = _refs_of(runnable, path, ordinal, len(refs))
            if not found:
                skipped.append(f"{type(runnable).__name__} at {format_path(path) or '<chain>'}")
            refs.extend(found)
            ordinal += 1
            return runnable
        return None

    map_runnables(chain, visit, (), opaque)
    paths: dict[int, list[Path]] = {}
    for ref in refs:
        if ref.path not in paths.setdefault(id(ref.prompt), []):
            paths[id(ref.prompt)].append(ref.path)
    refs = [
        replace(ref, also_at=tuple(p for p in paths[id(ref.prompt)] if p != ref.path))
        for ref in refs
    ]
    return refs, opaque, skipped


def _not_found(
    chain: Runnable[Any, Any], opaque: list[Path], skipped: list[str]
) -> PromptNotFoundError:
    message = f"no editable PromptTemplate or ChatPromptTemplate found in {chain.get_name()}"
    if skipped:
        message += (
            f". Prompts without an editable text template (not supported): {', '.join(skipped)}"
        )
    if opaque:
        where = ", ".join(format_path(p) or "<chain>" for p in opaque)
        message += (
            f". The chain has opaque steps at {where} (RunnableLambda or other non-pydantic "
            "runnables): prompts built inside a function cannot be found. Put the prompt in "
            "the chain as its own step, e.g. `prompt | llm`."
        )
    return PromptNotFoundError(message)


Target = int | str | PromptRef | BasePromptTemplate[Any] | None


def select_prompt(chain: Runnable[Any, Any], target: Target = None) -> PromptRef:
    """The editable text ``target`` names in ``chain``.

    ``target`` is an index (see :func:`find_prompts`), a name, a message role (``system``,
    ``human``/``user``, ``ai``/``assistant``: first such message in walk order), a prompt
    object (its default text), a :class:`PromptRef`, or ``None``: the system message of the
    first prompt, else its only editable text.
    """
    refs, opaque, skipped = _scan(chain)
    if not refs:
        raise _not_found(chain, opaque, skipped)
    listing = "; ".join(str(r) for r in refs)
    if isinstance(target, PromptRef):
        for ref in refs:
            if ref.path == target.path and ref.message_index == target.message_index:
                return ref
        raise PromptNotFoundError(f"{target} is not in this chain; it has: {listing}")
    if isinstance(target, int):
        if 0 <= target < len(refs):
            return refs[target]
        raise PromptNotFoundError(f"no prompt text #{target}; the chain has: {listing}")
    if isinstance(target, str):
        by_name = [r for r in refs if r.name == target]
        if by_name:
            return by_name[0]
        role = _ROLE_ALIASES.get(target, target)
        by_role = [r for r in refs if r.role == role]
        if by_role:
            return by_role[0]
        group = [r for r in refs if r.name.split(".")[0] == target]
        if group:
            return _default_of(group, listing)
        raise PromptNotFoundError(f"no prompt text named {target!r}; the chain has: {listing}")
    if target is None:
        first = [r for r in refs if r.path == refs[0].path]
        return _default_of(first, listing)
    group = [r for r in refs if r.prompt is target]
    if not group:
        raise PromptNotFoundError(f"that prompt object is not in this chain; it has: {listing}")
    return _default_of(group, listing)


def _default_of(group: Sequence[PromptRef], listing: str) -> PromptRef:
    systems = [r for r in group if r.role == "system"]
    if systems:
        return systems[0]
    if len(group) == 1:
        return group[0]
    raise PromptNotFoundError(
        "the prompt has several editable messages and no system message; choose one with "
        f"target=<index, name or role>: {listing}"
    )


def _rebuild(obj: BaseModel, **changes: Any) -> Any:
    kwargs = {k: getattr(obj, k) for k in obj.model_fields_set if k not in _COMPUTED}
    kwargs.update(changes)
    return type(obj)(**kwargs)


def _with_template(prompt: PromptTemplate, text: str) -> PromptTemplate:
    rebuilt: PromptTemplate = _rebuild(
        prompt,
        template=text,
        template_format=prompt.template_format,
        partial_variables=dict(prompt.partial_variables),
    )
    return rebuilt


def with_text(ref: PromptRef, text: str) -> BasePromptTemplate[Any]:
    """A new prompt object: ``ref.prompt`` with ``ref``'s text replaced by ``text``.

    Rebuilt (never ``model_copy``), so input variables follow the new text; template
    format, partial variables, other messages and metadata are kept.
    """
    prompt = ref.prompt
    if ref.message_index is None:
        if not isinstance(prompt, PromptTemplate):
            raise PromptNotFoundError(f"{ref} holds no editable text")
        return _with_template(prompt, text)
    if not isinstance(prompt, ChatPromptTemplate):
        raise PromptNotFoundError(f"{ref} is not a chat prompt")
    messages = list(prompt.messages)
    message = messages[ref.message_index]
    if isinstance(message, BaseMessage):
        messages[ref.message_index] = message.model_copy(update={"content": text})
    elif isinstance(message, _StringImageMessagePromptTemplate) and isinstance(
        message.prompt, PromptTemplate
    ):
        messages[ref.message_index] = _rebuild(message, prompt=_with_template(message.prompt, text))
    else:
        raise PromptNotFoundError(f"{ref} holds no editable text")
    rebuilt: ChatPromptTemplate = _rebuild(prompt, messages=messages)
    return rebuilt


def replace_prompt(
    chain: Runnable[Any, Any], ref: PromptRef, new: BasePromptTemplate[Any]
) -> Runnable[Any, Any]:
    """A NEW chain with the prompt object at ``ref.path`` swapped for ``new``, and every
    other use of that same object too (:attr:`PromptRef.also_at`)."""

    def swap(runnable: Runnable[Any, Any], path: Path) -> Runnable[Any, Any] | None:
        return new if path == ref.path or runnable is ref.prompt else None

    return map_runnables(chain, swap)


def replace_text(chain: Runnable[Any, Any], text: str, target: Target = None) -> Runnable[Any, Any]:
    """A NEW chain whose selected prompt text (see :func:`select_prompt`) reads ``text``."""
    ref = select_prompt(chain, target)
    return replace_prompt(chain, ref, with_text(ref, text))
