"""Compact meta-prompts for tiny optimizer models (e.g. the embedded SmolLM2-135M).

A 135M model cannot follow the full meta-prompts: asked for tagged reasons it writes a label
or copies a case, asked for a whole new prompt it loops or drops the placeholders. The compact
style asks for less and shows how:

- every request carries two worked examples, as earlier user/assistant turns, on tasks unlike
  any real one (a topic question, a date extraction), each reply framed ``<START>...<END>``;
  a reason stops at a blank line and an instruction at the end of its line, and a reply
  without tags is read whole (one item per reply);
- an edit or a paraphrase rewrites only the prompt's *instruction* (its first block of lines
  without template fields or protected spans, see :func:`find_instruction`), in one line; the
  new instruction is spliced back, so the input frame, the answer cue, the placeholders and the
  protected spans survive by construction. A prompt without such a block is rewritten whole;
- replies that loop (few distinct word trigrams) or mostly copy a worked example are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from apo_core.apo.prompts import ErrorCase
from apo_core.types import Message

COMPACT_MAX_FIELD_CHARS = 400
REASON_STOP = ("\n\n",)
"""A reason is one paragraph (tiny models go on with an echo of the request). ``<END>`` is no
stop sequence: SmolLM2 often opens its reply with it instead of ``<START>``."""
LINE_STOP = ("\n",)
"""Instruction rewrites are one line."""

GRADIENT_SYSTEM = "You are a prompt engineer. You find out why a prompt makes a model fail."
EDIT_SYSTEM = "You are a prompt engineer. You improve the instruction of a prompt."
PARAPHRASE_SYSTEM = "You rewrite instructions in other words and keep their meaning."


@dataclass(frozen=True)
class WorkedExample:
    """One demonstration shown to a tiny optimizer: a prompt, its errors, the fixes."""

    prompt: str
    instruction: str
    """The prompt's instruction line (what an edit rewrites)."""
    errors: tuple[ErrorCase, ...]
    reason: str
    """A good gradient: what in the prompt causes the errors."""
    edit: str
    """A good edited instruction that fixes ``reason``."""
    paraphrase: str
    """A good paraphrase of ``edit``."""


WORKED_EXAMPLES: tuple[WorkedExample, ...] = (
    WorkedExample(
        prompt="What is the topic of this question?\n{question}",
        instruction="What is the topic of this question?",
        errors=(
            ErrorCase(
                "question: Who won the match last night?",
                "sports",
                "The topic of this question is a match that happened last night.",
            ),
            ErrorCase(
                "question: How do vaccines work?",
                "science",
                "Vaccines train the immune system.",
            ),
        ),
        reason="The prompt does not list the allowed topics, so the model describes the "
        "question or answers it instead of naming one topic.",
        edit="What is the topic of this question? Answer with one word: sports, science or "
        "politics.",
        paraphrase="Name the topic of this question with a single word: sports, science or "
        "politics.",
    ),
    WorkedExample(
        prompt="Find the date in this message.\n\nMessage: {message}\n\nDate:",
        instruction="Find the date in this message.",
        errors=(
            ErrorCase("message: Let's meet next Friday, the 12th of May.", "12 May", "Friday"),
            ErrorCase(
                "message: The invoice from 3 March is due in two weeks.", "3 March", "two weeks"
            ),
        ),
        reason="The prompt does not say that a date has a day and a month, so the model "
        "answers with a weekday or a time span.",
        edit="Find the date in this message. A date has a day and a month, such as 4 June.",
        paraphrase="Which date does this message mention? Give its day and month, for "
        "example 4 June.",
    ),
)
"""Generic demonstrations (no real task's content): format and definition failures."""


def _cut(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= COMPACT_MAX_FIELD_CHARS:
        return text
    return text[: COMPACT_MAX_FIELD_CHARS - 3] + "..."


def format_errors(errors: Sequence[ErrorCase]) -> str:
    """The error cases as short bullet blocks."""
    blocks = []
    for err in errors:
        lines = [
            f"- Input: {_cut(err.input)}",
            f"  Expected: {_cut(err.expected)}",
            f"  Model said: {_cut(err.got)}",
        ]
        if err.feedback:
            lines.append(f"  Note: {_cut(err.feedback)}")
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def _tagged(text: str) -> str:
    return f"<START>{text}<END>"


def _chat(system: str, shots: Iterable[tuple[str, str]], user: str) -> list[Message]:
    messages = [Message(role="system", content=system)]
    for ask, answer in shots:
        messages.append(Message(role="user", content=ask))
        messages.append(Message(role="assistant", content=_tagged(answer)))
    messages.append(Message(role="user", content=user))
    return messages


def _gradient_ask(prompt: str, errors: Sequence[ErrorCase]) -> str:
    return (
        f"Prompt:\n{prompt}\n\nWrong answers:\n{format_errors(errors)}\n\n"
        "Why does the prompt fail? Give one reason about the prompt."
    )


def _edit_ask(instruction: str, reason: str) -> str:
    return (
        f"Instruction: {instruction}\nProblem: {' '.join(reason.split())}\n"
        "Write the instruction again so that it fixes the problem."
    )


def _paraphrase_ask(instruction: str) -> str:
    return f"Instruction: {instruction}\nSay it in other words."


def gradient_messages(prompt: str, errors: Sequence[ErrorCase]) -> list[Message]:
    """Ask for one reason why ``prompt`` fails on ``errors`` (after two worked examples)."""
    shots = [(_gradient_ask(w.prompt, w.errors), w.reason) for w in WORKED_EXAMPLES]
    return _chat(GRADIENT_SYSTEM, shots, _gradient_ask(prompt, errors))


def edit_messages(instruction: str, reason: str) -> list[Message]:
    """Ask for ``instruction`` rewritten to fix ``reason`` (after two worked examples)."""
    shots = [(_edit_ask(w.instruction, w.reason), w.edit) for w in WORKED_EXAMPLES]
    return _chat(EDIT_SYSTEM, shots, _edit_ask(instruction, reason))


def paraphrase_messages(instruction: str) -> list[Message]:
    """Ask for ``instruction`` in other words (after two worked examples)."""
    shots = [(_paraphrase_ask(w.edit), w.paraphrase) for w in WORKED_EXAMPLES]
    return _chat(PARAPHRASE_SYSTEM, shots, _paraphrase_ask(instruction))


# -- the instruction slot -------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """A prompt cut around its instruction: ``before + text + after``."""

    before: str
    text: str
    after: str

    @property
    def whole(self) -> bool:
        """The slot is the whole prompt (it has no free instruction block)."""
        return not self.before and not self.after

    def splice(self, instruction: str) -> str:
        """The prompt with ``instruction`` in place of the old one."""
        return self.before + instruction.strip() + self.after


_WORDS = re.compile(r"[^\W\d_]{2,}")


def find_instruction(
    prompt: str, is_fixed: Callable[[str], bool], spans: Sequence[str] = ()
) -> Slot:
    """The prompt's first block of lines that are free to rewrite, with at least 3 words.

    A line is fixed when ``is_fixed(line)`` (it holds a template field) or it overlaps a
    protected span; blocks are runs of non-empty free lines. Without such a block the slot is
    the whole prompt.
    """
    covered: list[tuple[int, int]] = []
    for span in spans:
        start = prompt.find(span)
        while span and start >= 0:
            covered.append((start, start + len(span)))
            start = prompt.find(span, start + 1)
    lines = prompt.splitlines(keepends=True)
    offset, block = 0, None
    blocks: list[tuple[int, int]] = []
    for line in lines:
        end = offset + len(line)
        free = (
            bool(line.strip())
            and not is_fixed(line)
            and not any(a < end and offset < b for a, b in covered)
        )
        if free:
            block = (block[0] if block else offset, end)
        elif block is not None:
            blocks.append(block)
            block = None
        offset = end
    if block is not None:
        blocks.append(block)
    for start, end in blocks:
        text = prompt[start:end]
        stripped = text.strip()
        if len(_WORDS.findall(stripped)) >= 3:
            lead = start + text.index(stripped)
            tail = lead + len(stripped)
            return Slot(prompt[:lead], stripped, prompt[tail:])
    return Slot("", prompt, "")


# -- reading replies ------------------------------------------------------------------------

_OPEN = re.compile(r"^\s*<\s*/?\s*(?:START|END|STOP|BEGIN)\s*>", re.I)
_CLOSE = re.compile(r"<\s*/?\s*(?:END|START|STOP)\s*>", re.I)
_LABEL = re.compile(r"^\s*(?:instruction|reason|problem|answer)\s*:\s*", re.I)
_QUOTES = "\"'`“”‘’"


def _trigrams(words: list[str]) -> list[tuple[str, ...]]:
    return [tuple(words[i : i + 3]) for i in range(len(words) - 2)]


def loops(text: str) -> bool:
    """Whether ``text`` repeats itself: at least 12 words and under half distinct trigrams."""
    words = text.casefold().split()
    grams = _trigrams(words)
    return len(words) >= 12 and len(set(grams)) < 0.5 * len(grams)


def _grams4(text: str) -> set[tuple[str, ...]]:
    words = _WORDS.findall(text.casefold())
    return {tuple(words[i : i + 4]) for i in range(len(words) - 3)}


_WORKED_GRAMS = set().union(
    *(
        _grams4(" ".join((w.prompt, w.reason, w.edit, w.paraphrase, *(e.input for e in w.errors))))
        for w in WORKED_EXAMPLES
    )
)


def copies_worked_example(text: str, context: str = "") -> bool:
    """Whether most of ``text``'s word 4-grams come from a worked example (not ``context``)."""
    grams = _grams4(text)
    if not grams:
        return False
    borrowed = (grams & _WORKED_GRAMS) - _grams4(context)
    return len(borrowed) >= 0.5 * len(grams)


MAX_INSTRUCTION_WORDS = 40
"""A longer one-line rewrite is cut after its last sentence that fits (tiny models ramble)."""
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


def fit_words(text: str, limit: int = MAX_INSTRUCTION_WORDS) -> str | None:
    """``text`` if it has at most ``limit`` words, else its longest run of whole sentences
    that does (``None`` if even the first sentence is longer)."""
    if len(text.split()) <= limit:
        return text
    head = " ".join(text.split()[:limit])
    ends = [m.end() for m in _SENTENCE_END.finditer(head)]
    return head[: ends[-1]] if ends else None


def read_reply(text: str, *, one_line: bool, context: str = "") -> str | None:
    """The one item of a compact reply, or ``None`` when it has none worth keeping.

    A leading tag (``<START>``, or the ``<END>`` and misspellings tiny models open with) and
    everything from the next tag on are dropped; a reply without tags is read whole. With
    ``one_line`` only the first non-empty line counts. An echoed ``Instruction:`` or
    ``Reason:`` label and wrapping quotes are removed, and the line is kept to
    :data:`MAX_INSTRUCTION_WORDS` words (:func:`fit_words`). Looping replies and copies of a
    worked example give ``None``.
    """
    body = _OPEN.sub("", text, count=1)
    close = _CLOSE.search(body)
    if close:
        body = body[: close.start()]
    body = body.strip()
    if one_line:
        body = next((line.strip() for line in body.splitlines() if line.strip()), "")
    body = _LABEL.sub("", body).strip()
    if len(body) >= 2 and body[0] in _QUOTES and body[-1] in _QUOTES:
        body = body[1:-1].strip()
    if one_line:
        body = fit_words(body) or ""
    if not body or loops(body) or copies_worked_example(body, context):
        return None
    return body
