"""What :class:`~llama_index_apo.APOPromptOptimizer` returns, and how it is saved."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from llama_index.core.prompts import BasePromptTemplate
from llama_index.core.prompts.mixin import PromptMixin

from apo_core.apo import APOResult
from llama_index_apo.prompts import Part
from llama_index_apo.serialize import dumps_templates, save_templates

__all__ = ["LlamaIndexAPOResult", "PromptTarget"]

M = TypeVar("M", bound=PromptMixin)

PromptTarget = tuple[str, Part]
"""One optimized text: a prompt key and, for chat templates, the message (role or index)."""


@dataclass
class LlamaIndexAPOResult(Generic[M]):
    """What :meth:`APOPromptOptimizer.optimize` returns.

    Attributes:
        module: the module now holding the best prompt(s) (the user's own when ``inplace``).
        key: the (first) optimized prompt's key.
        template: the final template at :attr:`key` (same class as the original).
        initial_template: the template at :attr:`key` before optimization.
        apo: the apo_core result of the last run (scores with CIs, history, usage, config);
            with one target, the only run.
        results: one apo_core result per run, in order (targets in turn, pass after pass).
        targets: the optimized texts, as ``(key, part)``, in the order they were optimized.
        templates: the final template at each optimized key.
        initial_templates: the template at each optimized key before optimization.
    """

    module: M
    key: str
    template: BasePromptTemplate
    initial_template: BasePromptTemplate
    apo: APOResult
    results: list[APOResult] = field(default_factory=list)
    targets: list[PromptTarget] = field(default_factory=list)
    templates: dict[str, BasePromptTemplate] = field(default_factory=dict)
    initial_templates: dict[str, BasePromptTemplate] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.results = self.results or [self.apo]
        self.templates = self.templates or {self.key: self.template}
        self.initial_templates = self.initial_templates or {self.key: self.initial_template}

    @property
    def best_prompt(self) -> str:
        """The optimized editable text of the last run (with one target, its text)."""
        return self.apo.best_prompt

    def to_json(self, *, indent: int = 2) -> str:
        """The optimized templates as a prompt file's JSON text (see :meth:`save`)."""
        return dumps_templates(self.templates, indent=indent)

    def save(self, path: str | Path) -> Path:
        """Save the optimized template(s) by key to a JSON file; returns its path.

        Load them with :func:`~llama_index_apo.load_template` /
        :func:`~llama_index_apo.load_templates` and apply them with
        :func:`~llama_index_apo.set_prompt`. Class, text, partial variables, variable mappings
        and metadata are saved; functions (function mappings, output parsers, selector
        conditions) are not: loading asks for them back, except LlamaIndex's own selector
        conditions.

        Raises:
            PromptFileError: a template holds a value JSON cannot hold.
        """
        return save_templates(path, self.templates)
