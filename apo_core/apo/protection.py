"""Protection: a candidate prompt keeps the original's variables and protected spans.

Every candidate is validated with the program's own variable parser: its variables must equal
the original prompt's, and every protected span (user spans, the output-format instruction)
must appear verbatim. A broken candidate is repaired when possible (stray braces escaped,
missing variables and spans re-appended) or rejected; the caller counts both.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from apo_core.errors import ConfigError
from apo_core.program import PromptProgram

_WORD = re.compile(r"[^\W\d_]{2,}")
_FIELD = re.compile(r"\{[^{}]*\}")
_BRACES = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}|[{}]")
_WRAPPERS = ("<<<PROMPT", "PROMPT>>>", "<START>", "<END>")


@dataclass(frozen=True)
class Checked:
    """The verdict on one candidate: ``prompt`` is ``None`` when it was rejected."""

    prompt: str | None
    repaired: bool = False
    problem: str | None = None


def escape_stray_braces(text: str, allowed: set[str]) -> str:
    """Escape every brace of an f-string template except ``{name}`` fields with allowed names."""

    def fix(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token
        name = match.group(1)
        if name is not None:
            return token if name in allowed else "{{" + name + "}}"
        return token * 2

    return _BRACES.sub(fix, text)


def instruction_words(text: str) -> int:
    """Words of at least two letters outside ``{...}`` fields: how much instruction a text has."""
    return len(_WORD.findall(_FIELD.sub(" ", text)))


def normalize(prompt: str) -> str:
    """The form used to detect duplicate candidates: collapsed whitespace, case-folded."""
    return " ".join(prompt.split()).casefold()


class PromptGuard:
    """Validates and repairs candidates against the original prompt.

    Args:
        program: whose ``variables()`` parser decides what a variable is.
        original: the prompt being optimized; it must parse and contain every span.
        spans: text every candidate must contain verbatim.
        repair: repair broken candidates; ``False`` rejects them instead.
        max_chars: longer candidates are rejected.
        min_ratio: candidates with fewer instruction words than this fraction of the
            original's are rejected as degenerate (a weak optimizer's "Positive" or "is" is
            not a prompt, and re-appending the variables would not make it one).
    """

    def __init__(
        self,
        program: PromptProgram,
        original: str,
        spans: Sequence[str] = (),
        *,
        repair: bool = True,
        max_chars: int = 8000,
        min_ratio: float = 0.0,
    ) -> None:
        try:
            self.variables = program.variables(original)
        except ValueError as exc:
            raise ConfigError(f"the initial prompt does not parse as a template: {exc}") from None
        missing = [s for s in spans if s not in original]
        if missing:
            raise ConfigError(f"protected span(s) not found in the initial prompt: {missing}")
        self.program = program
        self.spans = list(spans)
        self.repair = repair
        self.max_chars = max(max_chars, len(original))
        self.min_words = math.ceil(min_ratio * instruction_words(original))
        self._fstring = getattr(program, "template_format", None) == "f-string"

    def placeholders(self) -> list[str]:
        """How each variable is written in a template, sorted by name."""
        return [self._placeholder(v) for v in sorted(self.variables)]

    def _placeholder(self, name: str) -> str:
        writer = getattr(self.program, "placeholder", None)
        return str(writer(name)) if callable(writer) else "{" + name + "}"

    def _problem(self, text: str) -> str | None:
        try:
            found = self.program.variables(text)
        except ValueError as exc:
            return f"does not parse: {exc}"
        if found != self.variables:
            lost, added = sorted(self.variables - found), sorted(found - self.variables)
            return f"variables changed (missing {lost}, unexpected {added})"
        lost_spans = [s for s in self.spans if s not in text]
        if lost_spans:
            return f"protected span(s) missing: {lost_spans}"
        return None

    def _repair(self, text: str) -> str:
        if self._fstring:
            text = escape_stray_braces(text, self.variables)
        try:
            present = self.program.variables(text)
        except ValueError:
            return text
        additions = [self._placeholder(v) for v in sorted(self.variables - present)]
        additions += [s for s in self.spans if s not in text]
        return text if not additions else text.rstrip() + "\n\n" + "\n".join(additions)

    def check(self, candidate: str) -> Checked:
        """Accept, repair or reject one candidate."""
        text = candidate.strip()
        for wrapper in _WRAPPERS:
            text = text.replace(wrapper, "")
        text = text.strip()
        if not text:
            return Checked(None, problem="empty")
        if len(text) > self.max_chars:
            return Checked(None, problem=f"longer than {self.max_chars} characters")
        words = instruction_words(text)
        if words < self.min_words:
            return Checked(
                None, problem=f"degenerate: {words} instruction words, at least {self.min_words}"
            )
        problem = self._problem(text)
        if problem is None:
            return Checked(text)
        if not self.repair:
            return Checked(None, problem=problem)
        fixed = self._repair(text)
        still = self._problem(fixed)
        if still is not None:
            return Checked(None, problem=f"{problem}; repair failed: {still}")
        return Checked(fixed, repaired=True, problem=problem)
