"""Responders for :class:`~apo_core.testing.FakeOpenAIServer` that produce real model text."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from apo_core.testing.wire import Responder, content_text
from apo_core.types import CompletionParams, Message

if TYPE_CHECKING:
    from apo_core.models import LocalChatModel

_ROLES = ("system", "user", "assistant")


def _messages(body: dict[str, Any]) -> list[Message]:
    if "messages" not in body:
        prompt = body.get("prompt", "")
        text = str(prompt[0] if isinstance(prompt, list) and prompt else prompt)
        return [Message(role="user", content=text)]
    msgs = [
        Message(role=m["role"], content=content_text(m.get("content")))
        for m in body["messages"]
        if isinstance(m, dict) and m.get("role") in _ROLES
    ]
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema", {})
        instruction = (
            "Reply with a single JSON object and nothing else. It must match this JSON schema:\n"
            + json.dumps(schema, sort_keys=True)
        )
        msgs.insert(0, Message(role="system", content=instruction))
    return msgs


def local_model_responder(
    model: LocalChatModel | None = None, *, max_tokens: int = 64
) -> Responder:
    """A responder that answers with the embedded :class:`~apo_core.models.LocalChatModel`.

    Each choice is one synchronous generation with the request's temperature, ``max_tokens``
    (default ``max_tokens``), ``stop``, ``seed`` and ``top_p``. The model is created on first use.
    """
    holder: list[LocalChatModel] = [model] if model is not None else []

    def respond(body: dict[str, Any]) -> str:
        if not holder:
            from apo_core.models import LocalChatModel

            holder.append(LocalChatModel())
        stop = body.get("stop")
        params = CompletionParams(
            temperature=float(body.get("temperature") or 0.0),
            max_tokens=int(
                body.get("max_tokens") or body.get("max_completion_tokens") or max_tokens
            ),
            stop=tuple([stop] if isinstance(stop, str) else stop or ()),
            seed=body.get("seed"),
            top_p=body.get("top_p"),
        )
        completion = asyncio.run(holder[0].complete(_messages(body), params))
        return completion.text

    return respond
