"""Save LlamaIndex prompt templates to a JSON file and load them back.

``template.model_dump_json()`` fails on LlamaIndex templates (their function fields cannot be
serialized), so this module writes what a template IS, field by field: its class
(``PromptTemplate``, ``ChatPromptTemplate``, ``RichPromptTemplate``, ``SelectorPromptTemplate``),
its text (the template string, the chat messages with roles, blocks and additional kwargs, or
the jinja source), partial variables, variable mappings and metadata (``prompt_type`` included).

Functions are not saved, only their names: a template's ``function_mappings``, its output parser
and a selector's conditions. Loading asks for them back (``function_mappings=``,
``output_parser=``, ``predicates=``) and names any that are missing; a selector condition
defined in LlamaIndex itself (``is_chat_model``) is found on its own. Subclasses of the four
classes load as their LlamaIndex class. The file never holds code to run.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.prompts import (
    BasePromptTemplate,
    ChatPromptTemplate,
    PromptTemplate,
    RichPromptTemplate,
    SelectorPromptTemplate,
)
from llama_index.core.prompts.prompt_type import PromptType

from apo_core import APOError

__all__ = [
    "PromptFileError",
    "dumps_templates",
    "load_template",
    "load_templates",
    "loads_templates",
    "save_templates",
    "template_from_dict",
    "template_to_dict",
]

FORMAT = "apo-bpo/llama-index-prompts"
"""The ``format`` field of a prompt file."""
VERSION = 1
_KINDS: dict[str, type[BasePromptTemplate]] = {
    "SelectorPromptTemplate": SelectorPromptTemplate,
    "ChatPromptTemplate": ChatPromptTemplate,
    "RichPromptTemplate": RichPromptTemplate,
    "PromptTemplate": PromptTemplate,
}


class PromptFileError(APOError):
    """A template cannot be saved, or a prompt file cannot be loaded (the reason says why)."""


def _reference(obj: Any) -> str:
    owner = obj if isinstance(obj, type) else getattr(obj, "__func__", obj)
    if not hasattr(owner, "__qualname__"):
        owner = type(obj)
    return f"{getattr(owner, '__module__', '?')}:{owner.__qualname__}"


def _kind(template: BasePromptTemplate) -> str:
    for name, cls in _KINDS.items():
        if isinstance(template, cls):
            return name
    raise PromptFileError(
        f"{type(template).__name__} cannot be saved; use PromptTemplate, ChatPromptTemplate, "
        "RichPromptTemplate or SelectorPromptTemplate"
    )


def _json_value(value: Any, what: str) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise PromptFileError(
            f"{what} holds a {type(value).__name__}, which a JSON file cannot hold"
        ) from None
    return value


def template_to_dict(template: BasePromptTemplate) -> dict[str, Any]:
    """``template`` as plain JSON-ready data (see the module docstring for what is kept).

    Raises:
        PromptFileError: an unsupported template class, or a partial variable, metadata
            value or message field that JSON cannot hold.
    """
    kind = _kind(template)
    data: dict[str, Any] = {"class": kind}
    if type(template) is not _KINDS[kind]:
        data["saved_from"] = _reference(type(template))
    if isinstance(template, SelectorPromptTemplate):
        data["default"] = template_to_dict(template.default_template)
        data["conditionals"] = [
            {"predicate": _reference(check), "template": template_to_dict(choice)}
            for check, choice in template.conditionals or ()
        ]
        return data
    if isinstance(template, ChatPromptTemplate):
        data["messages"] = [
            _json_value(m.model_dump(mode="json"), f"chat message {i}")
            for i, m in enumerate(template.message_templates)
        ]
    elif isinstance(template, RichPromptTemplate):
        data["template_str"] = template.template_str
    else:
        data["template"] = template.get_template()
    metadata = dict(template.metadata)
    prompt_type = metadata.pop("prompt_type", None)
    data["prompt_type"] = prompt_type.value if isinstance(prompt_type, PromptType) else prompt_type
    data["metadata"] = {k: _json_value(v, f"metadata {k!r}") for k, v in metadata.items()}
    data["partials"] = {
        k: _json_value(v, f"partial variable {k!r}") for k, v in template.kwargs.items()
    }
    data["template_var_mappings"] = dict(template.template_var_mappings or {})
    data["function_mappings"] = {
        var: _reference(fn) for var, fn in (template.function_mappings or {}).items()
    }
    parser = template.output_parser
    data["output_parser"] = None if parser is None else _reference(type(parser))
    return data


def _predicate(reference: str, predicates: Mapping[str, Callable[..., bool]]) -> Any:
    module, _, qualname = reference.partition(":")
    for name in (reference, qualname):
        if name in predicates:
            return predicates[name]
    if module.split(".")[0] == "llama_index" and "<" not in qualname:
        try:
            found: Any = importlib.import_module(module)
            for part in qualname.split("."):
                found = getattr(found, part)
        except (ImportError, AttributeError):
            pass
        else:
            if callable(found):
                return found
    raise PromptFileError(
        f"the selector's condition {qualname or reference} was not saved (functions never "
        f"are): pass predicates={{{qualname!r}: <the function>}}"
    )


def template_from_dict(
    data: Mapping[str, Any],
    *,
    function_mappings: Mapping[str, Callable[..., Any]] | None = None,
    output_parser: Any = None,
    predicates: Mapping[str, Callable[..., bool]] | None = None,
) -> BasePromptTemplate:
    """The template that :func:`template_to_dict` described.

    Args:
        data: what :func:`template_to_dict` returned.
        function_mappings: the template's function mappings (by variable), when it had any.
        output_parser: the template's output parser, when it had one.
        predicates: a selector's conditions by name (``"module:name"`` or ``"name"``);
            LlamaIndex's own (``is_chat_model``) are found without it.

    Raises:
        PromptFileError: unknown class or missing field, or a function the template had that
            was not given back.
    """
    try:
        return _build(data, dict(function_mappings or {}), output_parser, dict(predicates or {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise PromptFileError(f"not a saved template ({type(exc).__name__}: {exc})") from None


def _build(
    data: Mapping[str, Any],
    functions: dict[str, Callable[..., Any]],
    parser: Any,
    predicates: dict[str, Callable[..., bool]],
) -> BasePromptTemplate:
    kind = data["class"]
    if kind not in _KINDS:
        raise PromptFileError(f"unknown template class {kind!r}; known: {sorted(_KINDS)}")
    if kind == "SelectorPromptTemplate":
        default = _build(data["default"], functions, parser, predicates)
        conditionals = [
            (_predicate(c["predicate"], predicates), _build(c["template"], functions, parser, {}))
            for c in data["conditionals"]
        ]
        return SelectorPromptTemplate(default, conditionals=conditionals or None)
    wanted = dict(data.get("function_mappings") or {})
    missing = sorted(set(wanted) - set(functions))
    if missing:
        raise PromptFileError(
            f"the template maps {missing} through functions, which were not saved: pass "
            "function_mappings={<variable>: <function>, ...}"
        )
    if data.get("output_parser") and parser is None:
        raise PromptFileError(
            f"the template had an output parser ({data['output_parser']}), which was not "
            "saved: pass output_parser=<the parser>"
        )
    common: dict[str, Any] = {
        "metadata": dict(data.get("metadata") or {}),
        "template_var_mappings": dict(data.get("template_var_mappings") or {}) or None,
        "function_mappings": {var: functions[var] for var in wanted} or None,
        "output_parser": parser if data.get("output_parser") else None,
        **dict(data.get("partials") or {}),
    }
    saved_type = data.get("prompt_type")
    if kind == "RichPromptTemplate":
        if saved_type is not None:
            common["metadata"]["prompt_type"] = PromptType(saved_type)
        return RichPromptTemplate(data["template_str"], **common)
    prompt_type = PromptType(saved_type or PromptType.CUSTOM.value)
    if kind == "ChatPromptTemplate":
        messages = [ChatMessage.model_validate(m) for m in data["messages"]]
        return ChatPromptTemplate(messages, prompt_type=prompt_type, **common)
    return PromptTemplate(data["template"], prompt_type=prompt_type, **common)


def dumps_templates(templates: Mapping[str, BasePromptTemplate], *, indent: int = 2) -> str:
    """A prompt file's JSON text holding ``templates`` by prompt key."""
    prompts = {key: template_to_dict(t) for key, t in templates.items()}
    return json.dumps({"format": FORMAT, "version": VERSION, "prompts": prompts}, indent=indent)


def save_templates(path: str | Path, templates: Mapping[str, BasePromptTemplate]) -> Path:
    """Write ``templates`` (by prompt key) to the JSON file ``path``; returns the path.

    The file is complete or absent: it is written beside the target and then renamed.
    """
    text = dumps_templates(templates)  # fails before anything is written
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    partial.write_text(text + "\n", encoding="utf-8")
    partial.replace(target)
    return target


def loads_templates(text: str, **resolvers: Any) -> dict[str, BasePromptTemplate]:
    """The templates of a prompt file's text by key; ``resolvers`` as for
    :func:`template_from_dict` (they apply to every template of the file)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PromptFileError(f"not a prompt file: invalid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PromptFileError(f"not a prompt file: its format is not {FORMAT!r}")
    version = data.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise PromptFileError(
            f"the prompt file has version {version!r}; this apo-bpo reads up to {VERSION}"
        )
    prompts = data.get("prompts")
    if not isinstance(prompts, dict):
        raise PromptFileError("not a prompt file: it has no 'prompts' object")
    return {key: template_from_dict(t, **resolvers) for key, t in prompts.items()}


def load_templates(path: str | Path, **resolvers: Any) -> dict[str, BasePromptTemplate]:
    """The templates saved in the file ``path``, by prompt key (see :func:`loads_templates`).

    Example:
        >>> for key, template in load_templates("prompts.json").items():  # doctest: +SKIP
        ...     set_prompt(query_engine, key, template)
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PromptFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    return loads_templates(text, **resolvers)


def load_template(path: str | Path, key: str | None = None, **resolvers: Any) -> BasePromptTemplate:
    """The template saved under ``key`` in the file ``path`` (``None``: its only one).

    Raises:
        PromptFileError: the file cannot be read or is not a prompt file; ``key`` is not in
            it; or ``key`` is ``None`` and the file holds several templates.
    """
    templates = load_templates(path, **resolvers)
    if key is None:
        if len(templates) != 1:
            raise PromptFileError(
                f"{path} holds {len(templates)} templates ({sorted(templates)}): pass key="
            )
        return next(iter(templates.values()))
    if key not in templates:
        raise PromptFileError(f"{path} has no template {key!r}; it has {sorted(templates)}")
    return templates[key]
