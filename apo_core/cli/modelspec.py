"""Model specs: short strings (CLI flags, task files) that name a model backend.

- ``local``: the embedded SmolLM2-135M-Instruct (:class:`~apo_core.models.LocalChatModel`).
- ``openai:MODEL``: OpenAI (key from ``OPENAI_API_KEY``), e.g. ``openai:gpt-4o-mini``.
- ``openai:MODEL@URL``: any OpenAI-compatible server, e.g. ``openai:qwen2.5@http://127.0.0.1:8000/v1``.
- ``completion:MODEL@URL``: a text-completions endpoint (e.g. THUDM/BPO served by vLLM).
- ``python:package.module:factory``: a callable returning a :class:`~apo_core.ChatModel`
  (custom backends, and scripted models in tests).
"""

from __future__ import annotations

import importlib
from typing import Any

from apo_core.errors import ConfigError
from apo_core.models import ChatModel

SPEC_HELP = (
    "'local', 'openai:MODEL[@BASE_URL]', 'completion:MODEL@BASE_URL' or 'python:module:factory'"
)


def _python_factory(target: str) -> ChatModel:
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"model spec 'python:{target}' must be 'python:module:factory'")
    try:
        factory: Any = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load model factory {target!r}: {exc}") from None
    model = factory() if callable(factory) and not isinstance(factory, ChatModel) else factory
    if not isinstance(model, ChatModel):
        raise ConfigError(f"{target!r} did not give a ChatModel (got {type(model).__name__})")
    return model


def model_from_spec(spec: str) -> ChatModel:
    """Build the model a spec names (see the module docstring). Raises ConfigError if unknown."""
    spec = spec.strip()
    kind, _, rest = spec.partition(":")
    if spec == "local":
        from apo_core.models import LocalChatModel

        return LocalChatModel()
    if kind in ("openai", "completion") and rest:
        name, _, base_url = rest.partition("@")
        if not name:
            raise ConfigError(f"model spec {spec!r} names no model")
        if kind == "openai":
            from apo_core.models import OpenAIChatModel

            return OpenAIChatModel(name, base_url=base_url or None)
        if not base_url:
            raise ConfigError(f"model spec {spec!r} needs a server: 'completion:MODEL@BASE_URL'")
        from apo_core.models import OpenAICompletionModel

        return OpenAICompletionModel(name, base_url=base_url)
    if kind == "python" and rest:
        return _python_factory(rest)
    raise ConfigError(f"unknown model {spec!r}: use {SPEC_HELP}")
