"""The OpenAI wire format as FakeOpenAIServer speaks it: faults, token counts, reply bodies."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Responder = Callable[[dict[str, Any]], str]
"""Makes the reply text of one choice from the request body."""

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


@dataclass(frozen=True)
class Fault:
    """One injected fault, used for one completion request.

    Args:
        status: answer with this HTTP status and an OpenAI-style error body.
        retry_after: with ``status``, send this ``Retry-After`` header (seconds).
        delay: sleep this long before answering (to trigger client timeouts); alone, the
            request is then answered normally.
        malformed: answer 200 with a body that is not JSON.
        truncated: announce a longer body than is sent, then close the connection.
        empty_choices: answer 200 with ``"choices": []``.
        message: the error message for ``status`` faults.
        code: the error body's ``code`` for ``status`` faults (e.g. ``"insufficient_quota"``).
    """

    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    malformed: bool = False
    truncated: bool = False
    empty_choices: bool = False
    message: str | None = None
    code: str | None = None


DEFAULT_RANDOM_FAULTS: tuple[Fault, ...] = (
    Fault(status=500),
    Fault(status=503),
    Fault(malformed=True),
)
"""Faults drawn from when ``fault_rate`` > 0."""

_TOKEN = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    """The fake server's token count: words and punctuation runs."""
    return len(_TOKEN.findall(text))


def content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}]
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def echo_responder(body: dict[str, Any]) -> str:
    """The default responder: the last user message (chat) or the prompt (completions)."""
    if "messages" in body:
        users = [m for m in body["messages"] if isinstance(m, dict) and m.get("role") == "user"]
        return content_text(users[-1].get("content")) if users else ""
    prompt = body.get("prompt", "")
    if isinstance(prompt, list):
        return str(prompt[0]) if prompt else ""
    return str(prompt)


def prompt_tokens(body: dict[str, Any]) -> int:
    if "messages" in body:
        return sum(
            count_tokens(content_text(m.get("content"))) + 4
            for m in body["messages"]
            if isinstance(m, dict)
        )
    return count_tokens(echo_responder(body))


def error_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    """An OpenAI-style error body."""
    return {
        "error": {
            "message": message,
            "type": ERROR_TYPES.get(status, "server_error"),
            "param": None,
            "code": code,
        }
    }


def completion_body(
    body: dict[str, Any], chat: bool, texts: list[str], *, model: str, number: int
) -> dict[str, Any]:
    """A chat (``chat.completion``) or legacy (``text_completion``) reply with usage."""
    usage = {
        "prompt_tokens": prompt_tokens(body),
        "completion_tokens": sum(count_tokens(t) for t in texts),
    }
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    if chat:
        choices: list[dict[str, Any]] = [
            {
                "index": i,
                "finish_reason": "stop",
                "logprobs": None,
                "message": {"role": "assistant", "content": text, "refusal": None},
            }
            for i, text in enumerate(texts)
        ]
    else:
        choices = [
            {"index": i, "finish_reason": "stop", "logprobs": None, "text": text}
            for i, text in enumerate(texts)
        ]
    return {
        "id": f"fake-{number}",
        "object": "chat.completion" if chat else "text_completion",
        "created": int(time.time()),
        "model": str(body.get("model") or model),
        "choices": choices,
        "usage": usage,
    }
