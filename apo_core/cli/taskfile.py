"""Task files: one TOML or YAML file (or a folder holding ``task.toml``/``task.yaml``) that
names everything an optimization needs. Paths inside are relative to the file's folder.

```toml
name = "sentiment"
prompt = "Is this review positive or negative?\\nReview: {text}\\nSentiment:"  # or prompt_file
seed = 0

[data]                    # one file split by fractions, or train/validation/test files,
path = "reviews.jsonl"    # or dataset = "sentiment" (shipped with apo-bpo)
output_key = "label"
split = { train = 0.5, validation = 0.25, test = 0.25 }

[metric]
type = "label_accuracy"   # exact_match | contains | regex | numeric | label_accuracy | llm_judge
labels = ["positive", "negative"]

[models]                  # per role; default for the rest; "local" is the embedded model
default = "local"
optimizer = "openai:gpt-4o-mini"

[search]                  # any APOConfig field
rounds = 2
beam_size = 2

[budget]
max_calls = 2000
```
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from apo_core.apo.config import APOConfig
from apo_core.data import Dataset, Splits
from apo_core.engine import Budget
from apo_core.errors import ConfigError
from apo_core.metrics import (
    Contains,
    ExactMatch,
    LabelAccuracy,
    Metric,
    NumericTolerance,
    RegexMatch,
)
from apo_core.types import ROLES

TASK_FILE_NAMES = ("task.toml", "task.yaml", "task.yml")


class DataSpec(BaseModel):
    """Where the examples come from."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = None
    dataset: str | None = None
    train: str | None = None
    validation: str | None = None
    test: str | None = None
    input_keys: list[str] | None = None
    output_key: str = "label"
    split: dict[str, float] = Field(
        default_factory=lambda: {"train": 0.5, "validation": 0.25, "test": 0.25}
    )
    limit: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_source(self) -> DataSpec:
        sources = [self.path is not None, self.dataset is not None, self.train is not None]
        if sum(sources) != 1:
            raise ValueError("give exactly one of data.path, data.dataset or data.train")
        if self.train is not None and self.validation is None:
            raise ValueError("data.train needs data.validation too")
        if set(self.split) - {"train", "validation", "test"}:
            raise ValueError("data.split keys are train, validation and test")
        return self


class MetricSpec(BaseModel):
    """Which metric scores a prediction."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["exact_match", "contains", "regex", "numeric", "label_accuracy", "llm_judge"]
    labels: list[Any] | dict[str, list[str]] | None = None
    pattern: str | None = None
    tolerance: float = Field(default=1e-6, ge=0)
    rubric: str | None = None
    case_sensitive: bool = False


class TaskSpec(BaseModel):
    """A whole optimization task, as read from a task file."""

    model_config = ConfigDict(extra="forbid")

    name: str = "task"
    prompt: str | None = None
    prompt_file: str | None = None
    system: str | None = None
    task_max_tokens: int | None = Field(default=64, gt=0)
    """Output cap of the task model per example (labels and short answers need few tokens)."""
    seed: int = 0
    data: DataSpec
    metric: MetricSpec
    models: dict[str, str] = Field(default_factory=dict)
    search: dict[str, Any] = Field(default_factory=dict)
    budget: Budget = Field(default_factory=Budget)
    max_concurrency: int = Field(default=8, ge=1)

    @model_validator(mode="after")
    def _check(self) -> TaskSpec:
        if (self.prompt is None) == (self.prompt_file is None):
            raise ValueError("give exactly one of prompt or prompt_file")
        unknown = set(self.models) - {"default", *ROLES}
        if unknown:
            raise ValueError(
                f"unknown role(s) in [models]: {sorted(unknown)}; use default, {', '.join(ROLES)}"
            )
        return self


class Task:
    """A loaded task: its spec, its folder, and helpers that build what a run needs."""

    def __init__(self, spec: TaskSpec, root: Path, source: Path) -> None:
        self.spec = spec
        self.root = root
        self.source = source

    def path(self, relative: str) -> Path:
        """Resolve a path from the task file against the task's folder."""
        return (self.root / relative).resolve()

    def prompt(self) -> str:
        """The initial prompt text."""
        if self.spec.prompt is not None:
            return self.spec.prompt
        file = self.path(self.spec.prompt_file or "")
        try:
            return file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read prompt_file {file}: {exc.strerror}") from None

    def config(self) -> APOConfig:
        """The search configuration (``[search]`` over the defaults, with the task's seed)."""
        try:
            return APOConfig(**{"seed": self.spec.seed, **self.spec.search})
        except ValidationError as exc:
            raise ConfigError(f"{self.source}: [search]: {_first_error(exc)}") from None

    def splits(self) -> Splits:
        """Train, validation and test datasets (test may be empty)."""
        data = self.spec.data
        kwargs: dict[str, Any] = {"input_keys": data.input_keys, "output_key": data.output_key}
        if data.train is not None:
            train = self._load(data.train, kwargs)
            validation = self._load(data.validation or "", kwargs)
            test = self._load(data.test, kwargs) if data.test else Dataset([], name="test")
            return Splits(train, validation, test)
        if data.dataset is not None:
            from apo_core.data.shipped import load_dataset

            full = load_dataset(data.dataset)
        else:
            full = self._load(data.path or "", kwargs)
        if data.limit is not None:
            full = full[: data.limit]
        fractions = {"train": 0.0, "validation": 0.0, "test": 0.0, **data.split}
        return full.split(
            train=fractions["train"],
            validation=fractions["validation"],
            test=fractions["test"],
            seed=self.spec.seed,
        )

    def _load(self, relative: str, kwargs: dict[str, Any]) -> Dataset:
        file = self.path(relative)
        if not file.exists():
            raise ConfigError(f"data file not found: {file}")
        if file.suffix.lower() == ".csv":
            return Dataset.from_csv(file, **kwargs)
        return Dataset.from_jsonl(file, **kwargs)

    def metric(self) -> Metric:
        """The metric the ``[metric]`` table describes."""
        m = self.spec.metric
        if m.type == "exact_match":
            return ExactMatch(case_sensitive=m.case_sensitive)
        if m.type == "contains":
            return Contains(case_sensitive=m.case_sensitive)
        if m.type == "regex":
            if not m.pattern:
                raise ConfigError(f"{self.source}: metric 'regex' needs a pattern")
            return RegexMatch(m.pattern)
        if m.type == "numeric":
            return NumericTolerance(abs_tol=m.tolerance)
        if m.type == "label_accuracy":
            if not m.labels:
                raise ConfigError(f"{self.source}: metric 'label_accuracy' needs labels")
            return LabelAccuracy(m.labels, case_sensitive=m.case_sensitive)
        from apo_core.metrics import LLMJudge

        if not m.rubric:
            raise ConfigError(f"{self.source}: metric 'llm_judge' needs a rubric")
        return LLMJudge(m.rubric)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "task"
    return f"{where}: {err['msg']}"


def find_task_file(target: str | Path) -> Path:
    """The task file itself, or the ``task.toml``/``task.yaml`` inside a folder."""
    path = Path(target)
    if path.is_dir():
        for name in TASK_FILE_NAMES:
            if (path / name).is_file():
                return path / name
        raise ConfigError(f"no {' or '.join(TASK_FILE_NAMES)} in folder {path}")
    if not path.is_file():
        raise ConfigError(f"task not found: {path}")
    return path


def load_task(target: str | Path) -> Task:
    """Read and validate a task file (TOML or YAML), or the task file of a folder."""
    file = find_task_file(target)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {file}: {exc}") from None
    try:
        if file.suffix.lower() == ".toml":
            raw: Any = tomllib.loads(text)
        else:
            raw = yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        detail = str(exc).splitlines()[0]
        raise ConfigError(
            f"{file} is not valid {file.suffix.lstrip('.').upper()}: {detail}"
        ) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{file} must hold a table of settings")
    try:
        spec = TaskSpec.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{file}: {_first_error(exc)}") from None
    return Task(spec, file.parent.resolve(), file)
