"""The adapters' coercion of framework models into apo_core chat models.

Each adapter passes its own ``adapt`` callable (LangChain: a ``BaseChatModel`` ->
``LangChainChatModel``; LlamaIndex: an ``LLM`` -> ``LlamaIndexChatModel``) that returns ``None``
for anything that is not its framework's model; an apo_core :class:`ChatModel` is taken as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from apo_core.errors import ConfigError
from apo_core.models.base import ChatModel

__all__ = ["Adapt", "as_chat_model", "is_chat_model", "role_models"]

Adapt = Callable[[Any], ChatModel | None]
"""Wraps a framework's own model as an apo_core :class:`ChatModel` (``None``: not one)."""


def _no_framework(model: Any) -> ChatModel | None:
    return None


def is_chat_model(model: Any, adapt: Adapt | None = None) -> bool:
    """Whether ``model`` is an apo_core ``ChatModel`` or a model ``adapt`` wraps."""
    return isinstance(model, ChatModel) or (adapt or _no_framework)(model) is not None


def as_chat_model(model: Any, adapt: Adapt | None, accepts: str, *, name: str) -> ChatModel:
    """``model`` as an apo_core chat model: wrapped by ``adapt``, or taken as it is.

    Args:
        model: a framework model or an apo_core ``ChatModel``.
        adapt: wraps the framework's own model (``None`` when it is not one).
        accepts: what the framework's models are called, for the error message.
        name: the argument's name, for the error message (``"llm"``, ``"task_model"``).

    Raises:
        ConfigError: ``model`` is neither the framework's nor an apo_core ``ChatModel``.
    """
    chat = (adapt or _no_framework)(model)
    if chat is None and isinstance(model, ChatModel):
        chat = model
    if chat is None:
        raise ConfigError(
            f"{name} must be {accepts} or an apo_core ChatModel, not {type(model).__name__}"
        )
    return chat


def role_models(models: Mapping[str, Any], adapt: Adapt, accepts: str) -> dict[str, ChatModel]:
    """The given (not ``None``) models by role, as apo_core chat models.

    Args:
        models: a model per role (``optimizer``, ``task``, ...), ``None`` for "not given".
        adapt: wraps a framework's own model (``None`` when it is not one).
        accepts: what the framework's models are called, for the error message.

    Raises:
        ConfigError: a model is neither the framework's nor an apo_core ``ChatModel``.
    """
    return {
        role: as_chat_model(model, adapt, accepts, name=f"{role}_model")
        for role, model in models.items()
        if model is not None
    }
