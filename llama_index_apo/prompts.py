"""Find, read, rebuild and set prompts on any LlamaIndex ``PromptMixin``.

LlamaIndex's own ``update_prompts`` breaks on keys with three or more parts
(``"query_engine:response_synthesizer:text_qa_template"``) and silently ignores unknown keys, so
this module walks ``_get_prompt_modules()`` itself and verifies every update.

The editable text of a template is: ``PromptTemplate.template``; one message of a
``ChatPromptTemplate`` (the last user message by default, or the system message);
``RichPromptTemplate.template_str``; and for a ``SelectorPromptTemplate`` the text of the
template that ``select(llm)`` returns for the LLM that really runs it. Variables are read with
LlamaIndex's own parsers, and rebuilt templates keep their class, variables, partials,
function mappings, variable mappings and output parser.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from llama_index.core import Settings
from llama_index.core.base.llms.base import BaseLLM
from llama_index.core.base.llms.types import ChatMessage, TextBlock
from llama_index.core.prompts import (
    BasePromptTemplate,
    ChatPromptTemplate,
    PromptTemplate,
    RichPromptTemplate,
    SelectorPromptTemplate,
)
from llama_index.core.prompts.mixin import PromptMixin
from llama_index.core.prompts.prompt_type import PromptType
from llama_index.core.prompts.utils import get_template_vars

from apo_core import APOError

__all__ = [
    "EditablePrompt",
    "PromptUpdateError",
    "copy_module",
    "discover_prompts",
    "editable",
    "find_prompt",
    "module_llm",
    "set_prompt",
    "template_variables",
    "walk_prompt_modules",
    "with_prompt",
]

M = TypeVar("M", bound=PromptMixin)
Part = str | int


class PromptUpdateError(APOError):
    """A prompt could not be found, rebuilt or applied (the module did not take it)."""


def walk_prompt_modules(module: PromptMixin, prefix: str = "") -> Iterator[tuple[str, PromptMixin]]:
    """Yield ``(key prefix, module)`` for ``module`` and every nested prompt module."""
    yield prefix, module
    for name, sub in module._get_prompt_modules().items():
        yield from walk_prompt_modules(sub, f"{prefix}{name}:")


def _owner(module: PromptMixin, key: str) -> tuple[PromptMixin, str]:
    *path, local = key.split(":")
    owner = module
    for i, name in enumerate(path):
        subs = owner._get_prompt_modules()
        if name not in subs:
            where = ":".join(path[:i]) or type(module).__name__
            raise PromptUpdateError(
                f"no prompt module {name!r} under {where!r} (key {key!r}); it has {sorted(subs)}"
            )
        owner = subs[name]
    return owner, local


def module_llm(module: object) -> BaseLLM | None:
    """The LLM a module runs with (its ``_llm``/``llm``), else ``Settings.llm`` if set."""
    for attr in ("_llm", "llm"):
        llm = getattr(module, attr, None)
        if isinstance(llm, BaseLLM):
            return llm
    fallback = getattr(Settings, "_llm", None)  # reading Settings.llm unset would raise
    return fallback if isinstance(fallback, BaseLLM) else None


def _message_index(template: ChatPromptTemplate, part: Part) -> int:
    messages = template.message_templates
    if isinstance(part, int):
        if not -len(messages) <= part < len(messages):
            raise PromptUpdateError(f"message {part} out of range ({len(messages)} messages)")
        return part % len(messages)
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].role.value == part:
            return i
    roles = [m.role.value for m in messages]
    raise PromptUpdateError(f"the chat template has no {part!r} message (roles: {roles})")


def template_variables(text: str, kind: type[BasePromptTemplate] = PromptTemplate) -> set[str]:
    """Variables of ``text`` by LlamaIndex's own parser for templates of class ``kind``."""
    if issubclass(kind, RichPromptTemplate):
        return set(RichPromptTemplate(text).template_vars)
    return set(get_template_vars(text))


def _fingerprint(template: BasePromptTemplate) -> Any:
    if isinstance(template, SelectorPromptTemplate):
        conds = tuple(_fingerprint(t) for _, t in template.conditionals or ())
        return ("selector", _fingerprint(template.default_template), conds)
    if isinstance(template, ChatPromptTemplate):
        return ("chat", tuple((m.role.value, m.content) for m in template.message_templates))
    if isinstance(template, RichPromptTemplate):
        return ("rich", template.template_str)
    if isinstance(template, PromptTemplate):
        return ("text", template.template)
    return ("other", type(template).__name__, template.get_template())


def _common(template: BasePromptTemplate) -> dict[str, Any]:
    return {
        "output_parser": template.output_parser,
        "metadata": dict(template.metadata),
        "template_var_mappings": dict(template.template_var_mappings or {}) or None,
        "function_mappings": dict(template.function_mappings or {}) or None,
        **dict(template.kwargs),
    }


def _rebuild_leaf(template: BasePromptTemplate, text: str, part: Part) -> BasePromptTemplate:
    common = _common(template)
    if isinstance(template, RichPromptTemplate):
        return RichPromptTemplate(text, **common)
    prompt_type = common["metadata"].pop("prompt_type", PromptType.CUSTOM)
    if isinstance(template, ChatPromptTemplate):
        i = _message_index(template, part)
        old = template.message_templates[i]
        if not all(isinstance(b, TextBlock) for b in old.blocks):
            raise PromptUpdateError("cannot edit a multimodal chat message (non-text blocks)")
        new = ChatMessage(role=old.role, content=text, additional_kwargs=old.additional_kwargs)
        messages = [*template.message_templates[:i], new, *template.message_templates[i + 1 :]]
        return type(template)(messages, prompt_type=prompt_type, **common)
    if isinstance(template, PromptTemplate):
        return type(template)(text, prompt_type=prompt_type, **common)
    raise PromptUpdateError(
        f"{type(template).__name__} is not supported; use PromptTemplate, ChatPromptTemplate, "
        "RichPromptTemplate or SelectorPromptTemplate"
    )


@dataclass(frozen=True)
class EditablePrompt:
    """The editable text of one template, and how to put new text back.

    Attributes:
        template: the template as stored on the module (a selector stays a selector).
        effective: the template the LLM actually uses (``select(llm)`` for selectors).
        part: which chat message is edited (role name or index); ignored for text templates.
        text: the editable text.
        variables: its template variables, by LlamaIndex's parser.
    """

    template: BasePromptTemplate
    effective: BasePromptTemplate
    part: Part
    text: str
    variables: frozenset[str]

    def variables_of(self, text: str) -> set[str]:
        """Variables of a candidate text, parsed as this template's kind."""
        return template_variables(text, type(self.effective))

    def with_text(self, text: str) -> BasePromptTemplate:
        """A template of the same class as :attr:`template` whose editable text is ``text``."""
        leaf = _rebuild_leaf(self.effective, text, self.part)
        if not isinstance(self.template, SelectorPromptTemplate):
            return leaf
        sel = self.template
        if sel.default_template is self.effective:
            return SelectorPromptTemplate(leaf, conditionals=sel.conditionals)
        conds = [(c, leaf if t is self.effective else t) for c, t in sel.conditionals or ()]
        return SelectorPromptTemplate(sel.default_template, conditionals=conds)


def editable(
    template: BasePromptTemplate, *, llm: BaseLLM | None = None, part: Part = "user"
) -> EditablePrompt:
    """The editable view of ``template`` (a selector is resolved with ``select(llm)``)."""
    effective = template.select(llm) if isinstance(template, SelectorPromptTemplate) else template
    if isinstance(effective, SelectorPromptTemplate):
        raise PromptUpdateError("nested selector templates are not supported")
    if isinstance(effective, ChatPromptTemplate):
        text = effective.message_templates[_message_index(effective, part)].content or ""
    elif isinstance(effective, RichPromptTemplate):
        text = effective.template_str
    elif isinstance(effective, PromptTemplate):
        text = effective.template
    else:
        raise PromptUpdateError(f"{type(effective).__name__} has no editable text")
    variables = frozenset(template_variables(text, type(effective)))
    return EditablePrompt(template, effective, part, text, variables)


def discover_prompts(module: PromptMixin) -> dict[str, BasePromptTemplate]:
    """Every prompt of ``module`` and its nested modules, at any depth, by namespaced key.

    Unlike ``get_prompts()`` it returns the stored objects themselves (not deep copies).
    """
    found: dict[str, BasePromptTemplate] = {}
    for prefix, sub in walk_prompt_modules(module):
        for key, template in sub._get_prompts().items():
            found[f"{prefix}{key}"] = template
    return found


def find_prompt(
    module: PromptMixin, key: str, *, llm: BaseLLM | None = None, part: Part = "user"
) -> EditablePrompt:
    """The editable prompt at ``key``, resolved for ``llm`` (default: the owner's LLM)."""
    owner, local = _owner(module, key)
    prompts = owner._get_prompts()
    if local not in prompts:
        keys = sorted(discover_prompts(module))
        raise PromptUpdateError(f"no prompt {key!r} on {type(module).__name__}; keys: {keys}")
    return editable(prompts[local], llm=llm or module_llm(owner), part=part)


def _as_template(
    module: PromptMixin,
    key: str,
    prompt: str | BasePromptTemplate,
    part: Part,
    llm: BaseLLM | None,
) -> BasePromptTemplate:
    """``prompt`` itself, or the template at ``key`` rebuilt with the text ``prompt``."""
    if isinstance(prompt, BasePromptTemplate):
        return prompt
    if not isinstance(prompt, str):
        raise PromptUpdateError(
            f"a prompt is a text or a LlamaIndex template, not {type(prompt).__name__}"
        )
    view = find_prompt(module, key, llm=llm, part=part)
    known = set(view.effective.template_vars) | set(view.effective.kwargs)
    unknown = view.variables_of(prompt) - known
    if unknown:
        raise PromptUpdateError(
            f"the new text of {key!r} uses {sorted(unknown)}, which the module never fills; "
            f"its variables are {sorted(known)}"
        )
    return view.with_text(prompt)


def set_prompt(
    module: PromptMixin,
    key: str,
    prompt: str | BasePromptTemplate,
    *,
    part: Part = "user",
    llm: BaseLLM | None = None,
) -> None:
    """Set the prompt at ``key`` (any depth) IN PLACE, and verify the module took it.

    Args:
        module: the module to change.
        key: the prompt key, e.g. ``"response_synthesizer:text_qa_template"``.
        prompt: a whole template, or the new editable text: it goes into a template of the
            same class as the one at ``key`` (for a chat template, into the message ``part``;
            for a selector, into the template selected for ``llm``, default the owner's LLM).
        part: which chat message the text replaces (``"user"``, ``"system"`` or an index).
        llm: resolves a selector template when ``prompt`` is text.

    Raises:
        PromptUpdateError: the key does not exist; the text uses variables the template does
            not have; or after the update neither the owning module nor
            ``module.get_prompts()`` shows the new template.
    """
    owner, local = _owner(module, key)
    if local not in owner._get_prompts():
        keys = sorted(discover_prompts(module))
        raise PromptUpdateError(f"no prompt {key!r} on {type(module).__name__}; keys: {keys}")
    template = _as_template(module, key, prompt, part, llm)
    owner.update_prompts({local: template})
    stored = owner._get_prompts().get(local)
    wanted = _fingerprint(template)
    if stored is not template and (stored is None or _fingerprint(stored) != wanted):
        raise PromptUpdateError(
            f"{type(owner).__name__}.update_prompts did not apply {local!r}: the module still "
            "reports its old prompt (its _update_prompts ignores this key)"
        )
    try:
        seen = module.get_prompts().get(key)
    except Exception:  # get_prompts deep-copies every prompt; some output parsers refuse
        return  # the owner already reported the new template
    if seen is None or _fingerprint(seen) != wanted:
        raise PromptUpdateError(f"{key!r} was set but get_prompts() does not report it")


def _copy_value(value: Any, memo: dict[int, Any]) -> Any:
    if isinstance(value, PromptMixin):
        return _copy_mixin(value, memo)
    if isinstance(value, types.MethodType) and isinstance(value.__self__, PromptMixin):
        # e.g. Refine._program_factory: bound to the module, it must follow the copy
        return types.MethodType(value.__func__, _copy_mixin(value.__self__, memo))
    if type(value) in (list, tuple):
        items = [_copy_value(v, memo) for v in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return items if type(value) is list else tuple(items)
    if type(value) is dict:
        new = {k: _copy_value(v, memo) for k, v in value.items()}
        return value if all(new[k] is v for k, v in value.items()) else new
    return value


def _copy_mixin(module: PromptMixin, memo: dict[int, Any]) -> Any:
    if id(module) in memo:
        return memo[id(module)]
    new = copy.copy(module)
    memo[id(module)] = new
    for attrs in (getattr(new, "__dict__", None), getattr(new, "__pydantic_private__", None)):
        if isinstance(attrs, dict):
            for name, value in list(attrs.items()):
                attrs[name] = _copy_value(value, memo)
    return new


def copy_module(module: M, *, deep: bool = False) -> M:
    """A copy of ``module`` whose prompts can be set without touching the original.

    By default every ``PromptMixin`` reachable from ``module`` (query engines, synthesizers,
    retrievers, transforms, evaluators) is copied, methods bound to them are bound to the
    copies, and everything else (LLMs, engines, indexes,
    vector stores, embeddings) is shared: cheap, works with LLM clients that cannot be deep
    copied, and keeps every call on the same engine, cache and budget. ``deep=True`` is
    ``copy.deepcopy`` (an :class:`~llama_index_apo.EngineLLM` still shares its engine).
    """
    copied: M = copy.deepcopy(module) if deep else _copy_mixin(module, {})
    return copied


def with_prompt(
    module: M,
    key: str,
    prompt: str | BasePromptTemplate,
    *,
    part: Part = "user",
    llm: BaseLLM | None = None,
    deep: bool = False,
) -> M:
    """A COPY of ``module`` (:func:`copy_module`) whose prompt at ``key`` is ``prompt``.

    The original is left exactly as it was and keeps answering with its own prompt; use
    :func:`set_prompt` to change a module in place.

    Args:
        module: the module to copy.
        key: the prompt key, any depth.
        prompt: the new editable text (see :func:`set_prompt`: it goes into a template of the
            same class, chat message ``part``), or a whole template.
        part: which chat message the text replaces.
        llm: resolves a selector template when ``prompt`` is text.
        deep: ``copy.deepcopy`` the module instead (see :func:`copy_module`).

    Raises:
        PromptUpdateError: as :func:`set_prompt`; or setting the copy's prompt changed the
            original (a module that stores its prompts in a shared object).
    """
    template = _as_template(module, key, prompt, part, llm)
    before = _fingerprint(find_prompt(module, key).template)
    target = copy_module(module, deep=deep)
    set_prompt(target, key, template)
    if _fingerprint(find_prompt(module, key).template) != before:
        raise PromptUpdateError(
            f"setting {key!r} on a copy changed the original {type(module).__name__}: one of "
            "its modules stores prompts in a shared object"
        )
    return target
