"""The optimizer's meta-prompts: gradient (why does the prompt fail?), edit, paraphrase.

Each builder returns the chat messages for one optimizer call. With ``structured=True`` the
reply is asked for as JSON (the engine also passes the schema as ``response_format``);
otherwise as ``<START>...<END>`` tagged text. The parser accepts either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from apo_core.types import Message

MAX_FIELD_CHARS = 600

SYSTEM = (
    "You are a careful prompt engineer. You study how a language model misreads its "
    "instructions and you write clear, specific prompts."
)


@dataclass(frozen=True)
class ErrorCase:
    """One example the prompt got wrong, as shown to the optimizer."""

    input: str
    expected: str
    got: str
    feedback: str | None = None


def _cut(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_FIELD_CHARS else text[: MAX_FIELD_CHARS - 3] + "..."


def format_errors(errors: Sequence[ErrorCase]) -> str:
    """The error cases as numbered blocks."""
    blocks = []
    for i, err in enumerate(errors, 1):
        lines = [
            f"Case {i}",
            f"Input: {_cut(err.input)}",
            f"Expected answer: {_cut(err.expected)}",
            f"Model answer: {_cut(err.got)}",
        ]
        if err.feedback:
            lines.append(f"Grader's note: {_cut(err.feedback)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _quoted(prompt: str) -> str:
    return f"<<<PROMPT\n{prompt}\nPROMPT>>>"


def _reply_format(field: str, what: str, n: int, structured: bool) -> str:
    if structured:
        return (
            f'Reply with JSON only, in the form {{"{field}": [...]}}, holding exactly {n} '
            f"{what} as strings."
        )
    return (
        f"Write exactly {n} {what}. Put each one between the tags <START> and <END>, and "
        "write nothing outside the tags."
    )


def keep_clause(placeholders: Sequence[str], spans: Sequence[str]) -> str:
    """The instruction to keep template placeholders and protected spans unchanged."""
    parts: list[str] = []
    if placeholders:
        parts.append(
            "The placeholders " + ", ".join(placeholders) + " are filled in with each "
            "example's input. Keep them exactly as written, each at least once, and add no "
            "other text in curly braces."
        )
    if spans:
        quoted = "\n".join(f'- "{span}"' for span in spans)
        parts.append("Keep these passages word for word:\n" + quoted)
    return "\n".join(parts)


def _messages(user: str) -> list[Message]:
    return [Message(role="system", content=SYSTEM), Message(role="user", content=user)]


def gradient_messages(
    prompt: str, errors: Sequence[ErrorCase], n: int, *, structured: bool
) -> list[Message]:
    """Ask for ``n`` reasons why ``prompt`` makes the model fail on ``errors``."""
    user = (
        "A language model followed this prompt:\n"
        f"{_quoted(prompt)}\n\n"
        "It answered these cases wrongly:\n\n"
        f"{format_errors(errors)}\n\n"
        f"Diagnose the prompt. Give {n} different reason(s) why it leads the model to these "
        "wrong answers. Each reason must point at something in the prompt (missing, vague, "
        "misleading or badly ordered), not at a single case.\n"
        + _reply_format("reasons", "reason(s)", n, structured)
    )
    return _messages(user)


def edit_messages(
    prompt: str,
    errors: Sequence[ErrorCase],
    reason: str,
    n: int,
    *,
    placeholders: Sequence[str],
    spans: Sequence[str],
    structured: bool,
) -> list[Message]:
    """Ask for ``n`` new prompts that fix ``reason``."""
    keep = keep_clause(placeholders, spans)
    user = (
        "A language model followed this prompt:\n"
        f"{_quoted(prompt)}\n\n"
        "It answered these cases wrongly:\n\n"
        f"{format_errors(errors)}\n\n"
        f"A reviewer explained the failure like this:\n{reason.strip()}\n\n"
        f"Write {n} improved prompt(s) for the same task that fix this problem. Each must be a "
        "complete prompt the model can follow on its own, not a comment about the prompt.\n"
        + (keep + "\n" if keep else "")
        + _reply_format("prompts", "prompt(s)", n, structured)
    )
    return _messages(user)


def paraphrase_messages(
    prompt: str, *, placeholders: Sequence[str], spans: Sequence[str], structured: bool
) -> list[Message]:
    """Ask for one paraphrase of ``prompt`` that keeps its meaning."""
    keep = keep_clause(placeholders, spans)
    user = (
        "Rewrite this prompt in different words. Keep its meaning, its task and every "
        "instruction it gives.\n"
        f"{_quoted(prompt)}\n"
        + (keep + "\n" if keep else "")
        + _reply_format("prompts", "rewritten prompt", 1, structured)
    )
    return _messages(user)
