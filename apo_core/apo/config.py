"""APOConfig: every knob of a ProTeGi run, with the paper's defaults."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class APOConfig(BaseModel):
    """Configuration of :class:`~apo_core.apo.APO` (defaults from Pryzant et al., 2023).

    Expansion: each beam prompt is run on ``minibatch_size`` train examples; from its errors
    ``n_gradients`` groups of ``errors_per_gradient`` are sampled, each asking the optimizer for
    ``gradients_per_error`` reasons; each reason gets one edit call asking for
    ``steps_per_gradient`` new prompts; each new prompt gets ``mc_samples_per_step``
    paraphrases. At most ``max_expansion_factor`` successors per parent are kept.

    Selection: ``selector`` ranks parents and successors with at most ``eval_budget`` pulls per
    round (``None``: ``pulls_per_candidate`` per candidate) on ``selection_split`` examples.
    The best prompt is picked on validation; ``patience`` rounds without a better validation
    score stop the run (``None``: never).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rounds: int = Field(default=6, ge=0)
    beam_size: int = Field(default=4, ge=1)
    minibatch_size: int = Field(default=64, ge=1)
    n_gradients: int = Field(default=4, ge=1)
    errors_per_gradient: int = Field(default=4, ge=1)
    gradients_per_error: int = Field(default=1, ge=1)
    steps_per_gradient: int = Field(default=1, ge=1)
    mc_samples_per_step: int = Field(default=2, ge=0)
    max_expansion_factor: int = Field(default=8, ge=1)
    selector: str = "ucb"
    """A name :func:`~apo_core.apo.selection.make_selector` knows (``"ucb"``, ...)."""
    selector_options: dict[str, Any] = Field(default_factory=dict)
    eval_budget: int | None = Field(default=None, ge=1)
    pulls_per_candidate: int = Field(default=8, ge=1)
    selection_split: Literal["train", "validation"] = "train"
    patience: int | None = Field(default=2, ge=1)
    optimizer_temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    optimizer_max_tokens: int = Field(default=512, gt=0)
    structured: bool = True
    """Ask the optimizer for JSON (``response_format``); otherwise for tagged text (full
    meta-prompts only: the compact ones always ask for tagged text)."""
    meta_prompt_style: Literal["auto", "full", "compact"] = "auto"
    """``"full"`` meta-prompts for capable optimizers; ``"compact"`` ones (worked examples,
    stop sequences, one-line instruction rewrites) for tiny models; ``"auto"``: the style the
    optimizer model advertises (``meta_prompt_style``; the embedded model: compact), else
    full. See :mod:`apo_core.apo.metaprompts`."""
    seed: int = 0
    protected: list[str] = Field(default_factory=list)
    """Spans every candidate must contain verbatim (re-appended if an edit drops them)."""
    output_format: str | None = None
    """An output-format instruction that must survive every edit (a protected span)."""
    repair: bool = True
    """Repair broken candidates (restore variables and spans); ``False`` rejects them."""
    max_prompt_chars: int = Field(default=8000, gt=0)
    min_prompt_ratio: float = Field(default=0.3, ge=0.0, le=1.0)
    """Reject candidates with fewer instruction words than this share of the initial prompt's."""
    min_gradient_words: int = Field(default=1, ge=0)
    """Gradient reasons with fewer words than this are unusable (counted as parse failures)."""

    @model_validator(mode="after")
    def _spans_nonempty(self) -> APOConfig:
        if any(not span.strip() for span in self.protected):
            raise ValueError("protected spans must not be empty")
        if self.output_format is not None and not self.output_format.strip():
            raise ValueError("output_format must not be empty")
        return self

    @property
    def protected_spans(self) -> list[str]:
        """User spans plus the output-format instruction, in that order."""
        spans = list(self.protected)
        if self.output_format and self.output_format not in spans:
            spans.append(self.output_format)
        return spans

    @property
    def successors_per_parent(self) -> int:
        """Successors one parent can get: edits plus their paraphrases, capped."""
        edits = self.n_gradients * self.gradients_per_error * self.steps_per_gradient
        return min(edits * (1 + self.mc_samples_per_step), self.max_expansion_factor)


def derive_seed(seed: int, *parts: object) -> int:
    """A stable 31-bit seed for one step of a run, e.g. ``derive_seed(0, "gradient", 2, 1)``."""
    material = ":".join(str(p) for p in (seed, *parts)).encode()
    return int.from_bytes(hashlib.sha256(material).digest()[:4], "big") & 0x7FFFFFFF
