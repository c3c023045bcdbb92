"""Example: one task instance (inputs, expected output, metadata) with a stable id.

Re-exported by :mod:`apo_core.data`; import it from there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import cached_property
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Example"]


class Example(BaseModel):
    """One task instance. Immutable: its :attr:`id` is computed once, on first use.

    Attributes:
        inputs: template variables -> values (``{"question": "..."}``); do not change them in
            place (make a new example, e.g. with ``model_copy(update=...)``).
        output: the expected output or label; ``None`` means unlabelled.
        metadata: anything else (source, row number, ...); not part of :attr:`id`.
    """

    model_config = ConfigDict(frozen=True)

    inputs: dict[str, Any]
    output: Any = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @cached_property
    def id(self) -> str:
        """A stable 16-hex-digit hash of ``inputs`` and ``output`` (same content, same id)."""
        payload = json.dumps(
            {"inputs": self.inputs, "output": self.output},
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
            default=repr,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]

    @property
    def label(self) -> Any:
        """Alias of :attr:`output`."""
        return self.output

    def __hash__(self) -> int:
        return hash(self.id)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy (with ``update`` applied); its id is computed afresh."""
        copy = super().model_copy(update=update, deep=deep)
        copy.__dict__.pop("id", None)
        return copy
