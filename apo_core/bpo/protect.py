"""Protected spans: parts of a prompt that every rewrite must keep verbatim.

Users mark spans inline with ``[[...]]`` or pass them as a list. The markers are annotations,
not prompt text: they are removed before any model sees the prompt (a rewriting model would
otherwise copy, drop or "fix" them), the spans are remembered, and the guard verifies that each
one is present, character for character, in the rewrite. The meta-prompt additionally lists
the spans for the model; the THUDM/BPO model cannot be told, so it is only checked.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from apo_core.errors import ConfigError

DEFAULT_MARKERS: tuple[str, str] = ("[[", "]]")


class ProtectedPrompt(BaseModel):
    """A prompt with its markers removed and the spans it protects."""

    model_config = ConfigDict(frozen=True)

    text: str
    """The prompt as the model sees it (markers removed)."""
    spans: tuple[str, ...] = ()
    """Protected spans present in ``text``, in order of appearance, without duplicates."""


def strip_markers(prompt: str, markers: tuple[str, str] | None) -> tuple[str, list[str]]:
    """Remove ``[[``/``]]`` markers; return the clean prompt and the marked spans.

    An opening marker without a closing one is left as ordinary text. ``markers=None`` turns
    marking off (for prompts that contain ``[[`` themselves, e.g. MT-bench verdicts).
    """
    if markers is None:
        return prompt, []
    open_, close = markers
    if not open_ or not close:
        raise ConfigError("protection markers must be two non-empty strings")
    out: list[str] = []
    spans: list[str] = []
    pos = 0
    while True:
        start = prompt.find(open_, pos)
        end = prompt.find(close, start + len(open_)) if start >= 0 else -1
        if start < 0 or end < 0:
            out.append(prompt[pos:])
            break
        span = prompt[start + len(open_) : end]
        out.append(prompt[pos:start])
        out.append(span)
        if span.strip():
            spans.append(span)
        pos = end + len(close)
    return "".join(out), spans


def protect(
    prompt: str,
    protected: Iterable[str] = (),
    *,
    markers: tuple[str, str] | None = DEFAULT_MARKERS,
) -> ProtectedPrompt:
    """Split ``prompt`` into model-visible text and protected spans.

    Spans come from the markers and from ``protected``; listed spans that do not occur in the
    prompt are ignored (so one list can serve a whole batch).
    """
    text, marked = strip_markers(prompt, markers)
    spans: list[str] = []
    for span in [*marked, *protected]:
        if span and span.strip() and span in text and span not in spans:
            spans.append(span)
    spans.sort(key=text.find)
    return ProtectedPrompt(text=text, spans=tuple(spans))
