"""BPO's texts and sampling settings: the THUDM/BPO template, the meta-prompt, the two modes.

The template is the released model's exact inference format (Cheng et al. 2023, thu-coai/BPO):
no system block, one real newline, the user prompt in place of ``{}``. The meta-prompt is this
project's own wording of the paper's rewriting strategies, for any chat model, followed by two
worked examples as earlier chat turns: without them the embedded 135M model answers the prompt
instead of rewriting it (0 of 10 Vicuna Eval questions rewritten; 10 of 10 with them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from apo_core.types import Message

Mode = Literal["stable", "aggressive"]
Source = Literal["meta_prompt", "bpo_model"]

BPO_TEMPLATE = (
    "[INST] You are an expert prompt engineer. Please help me improve this prompt to get a "
    "more helpful and harmless response:\n{} [/INST]"
)
"""THUDM/BPO's inference template, verbatim (``{}`` is replaced by the user prompt)."""

BPO_INSTRUCTION = (
    "You are an expert prompt engineer. Please help me improve this prompt to get a "
    "more helpful and harmless response:\n"
)
"""The template's instruction without the Llama-2 ``[INST]`` tags (for chat-format SFT data)."""

BANNED_MARKERS: tuple[str, ...] = ("[PROTECT]", "[KEEP", "[INSTRUCTION]")
"""Markers the BPO model must not emit (the release bans them while decoding)."""

BANNED_PREFIXES: tuple[str, ...] = ("[KE", "[INS", "[PRO")
"""Where the release cuts an aggressive sample: partial markers it could still emit."""

BAD_WORDS: tuple[str, ...] = ("[PROTECT]", "\n\n[PROTECT]", "[KEEP", "[INSTRUCTION]")
"""The release's ``bad_words_ids`` while sampling aggressively (sent as vLLM's ``bad_words``)."""

META_STOP = "</prompt>"
"""The meta-prompt's closing tag: generation can stop there."""


class ModeSettings(BaseModel):
    """Sampling and post-processing settings of one BPO mode."""

    model_config = ConfigDict(frozen=True)

    samples: int
    temperature: float
    top_p: float = 0.9
    max_tokens: int = 1024
    min_growth_tokens: int = 0
    """A sample must be at least this many tokens longer than its input."""
    cut_at_newline: bool = False
    cut_banned_markers: bool = False


MODES: dict[str, ModeSettings] = {
    "stable": ModeSettings(samples=1, temperature=0.6),
    "aggressive": ModeSettings(
        samples=5,
        temperature=0.9,
        min_growth_tokens=5,
        cut_at_newline=True,
        cut_banned_markers=True,
    ),
}
"""The release's settings: stable = 1 sample at 0.6; aggressive = 5 at 0.9, grown, one line."""


def bpo_prompt(prompt: str) -> str:
    """The exact text THUDM/BPO is given for ``prompt``."""
    return BPO_TEMPLATE.format(prompt)


META_SYSTEM = """\
You are an expert prompt engineer. You rewrite a user's prompt so that an AI assistant gives \
a more helpful and harmless response to it. You never answer the prompt yourself.

How to rewrite:
- Keep every piece of information and the user's intent: all facts, names, numbers, quoted \
text, template placeholders in braces such as {name}, examples, constraints and the requested \
output format.
- Copy every protected part the user lists into the rewrite verbatim, character for character.
- Make the request explicit: explain what is asked and why, elaborate and clarify vague parts, \
and add hints that lead to a better answer (aspects to cover, reasoning steps, structure, tone).
- If the request is unsafe, rewrite it into a safe and harmless request on the same topic.
- Keep the user's language and point of view: the rewrite is still the user speaking to the \
assistant.
- Do not answer, solve or comment on the prompt.

Reply with the improved prompt only, between <prompt> and </prompt>."""


META_EXAMPLES: tuple[tuple[str, str], ...] = (
    (
        "How do I make a good cup of coffee?",
        "How do I make a good cup of coffee? Please explain step by step, including the amount "
        "of coffee and water, the water temperature and the brewing time.",
    ),
    (
        "Write a poem about autumn.",
        "Write a short poem about autumn. Please describe the colors of the leaves and the cool "
        "weather, and use vivid imagery.",
    ),
)
"""(prompt, improved prompt) pairs shown to the rewriter as earlier turns of the chat."""


def _quote_block(text: str) -> str:
    return f"<original>\n{text}\n</original>"


def _ask(prompt: str) -> str:
    return "Improve this prompt:\n" + _quote_block(prompt)


def meta_prompt_messages(
    prompt: str,
    protected: Sequence[str] = (),
    *,
    system: str = META_SYSTEM,
    examples: Sequence[tuple[str, str]] = META_EXAMPLES,
) -> list[Message]:
    """Chat messages asking any chat model for a BPO-style rewrite of ``prompt``.

    ``examples`` become earlier user/assistant turns (the assistant replying in ``<prompt>``
    tags). ``protected`` spans are listed for the model to copy verbatim, in one line before
    the request (listed after it, they made the embedded model copy an example or the list
    itself); the prompt itself is shown without markers.
    """
    shots: list[Message] = []
    for before, after in examples:
        shots.append(Message(role="user", content=_ask(before)))
        shots.append(Message(role="assistant", content=f"<prompt>{after}</prompt>"))
    user = _ask(prompt)
    if protected:
        if any("," in span or "\n" in span for span in protected):
            spans = "".join(f"\n{i}. {span}" for i, span in enumerate(protected, 1))
        else:
            spans = " " + ", ".join(protected)
        user = f"Keep these words exactly:{spans}\n{user}"
    return [Message(role="system", content=system), *shots, Message(role="user", content=user)]
