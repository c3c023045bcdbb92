"""The adapters' coercion of a model per role into apo_core chat models."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from apo_core.errors import ConfigError
from apo_core.models.base import ChatModel

__all__ = ["role_models"]


def role_models(
    models: Mapping[str, Any], adapt: Callable[[Any], ChatModel | None], accepts: str
) -> dict[str, ChatModel]:
    """The given (not ``None``) models by role, as apo_core chat models.

    Args:
        models: a model per role (``optimizer``, ``task``, ...), ``None`` for "not given".
        adapt: wraps a framework's own model (``None`` when it is not one).
        accepts: what the framework's models are called, for the error message.

    Raises:
        ConfigError: a model is neither the framework's nor an apo_core ``ChatModel``.
    """
    out: dict[str, ChatModel] = {}
    for role, model in models.items():
        if model is None:
            continue
        chat = adapt(model)
        if chat is None and isinstance(model, ChatModel):
            chat = model
        if chat is None:
            raise ConfigError(
                f"{role}_model must be {accepts} or an apo_core ChatModel, "
                f"not {type(model).__name__}"
            )
        out[role] = chat
    return out
