"""Examples and datasets: loaders (records, JSONL, CSV), seeded stratified splits, minibatches.

An :class:`Example` holds the template variables of one task instance (``inputs``), its expected
output or label (``output``) and free ``metadata``. A :class:`Dataset` is an immutable sequence of
examples. Loaders raise :class:`~apo_core.errors.ConfigError` naming the file and line at fault.
"""

from __future__ import annotations

import os
import random
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, overload

from apo_core.data.example import Example
from apo_core.data.loaders import default_name, read_csv, read_jsonl, record_to_example
from apo_core.errors import ConfigError

__all__ = ["Dataset", "Example", "Splits"]

PathLike = str | os.PathLike[str]


class Splits(NamedTuple):
    """Disjoint train / validation / test datasets that together cover the source dataset."""

    train: Dataset
    validation: Dataset
    test: Dataset


class Dataset(Sequence[Example]):
    """An immutable sequence of :class:`Example`.

    Args:
        examples: the examples (``Example`` objects or dicts validating as one).
        name: a label used in reports and error messages.
    """

    def __init__(
        self, examples: Iterable[Example | Mapping[str, Any]] = (), name: str = ""
    ) -> None:
        items: list[Example] = []
        for i, ex in enumerate(examples):
            if isinstance(ex, Example):
                items.append(ex)
            elif isinstance(ex, Mapping):
                items.append(Example.model_validate(dict(ex)))
            else:
                raise ConfigError(
                    f"dataset item {i} is a {type(ex).__name__}, not an Example or a dict"
                )
        self._examples = items
        self.name = name

    # -- sequence protocol -------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._examples)

    @overload
    def __getitem__(self, index: int) -> Example: ...
    @overload
    def __getitem__(self, index: slice) -> Dataset: ...
    def __getitem__(self, index: int | slice) -> Example | Dataset:
        if isinstance(index, slice):
            return Dataset(self._examples[index], name=self.name)
        return self._examples[index]

    def __iter__(self) -> Iterator[Example]:
        return iter(self._examples)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Dataset):
            return NotImplemented
        return self._examples == other._examples

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        name = f"{self.name!r}, " if self.name else ""
        return f"Dataset({name}{len(self)} examples)"

    # -- loaders -----------------------------------------------------------------------------

    @classmethod
    def from_records(
        cls,
        records: Iterable[Mapping[str, Any]],
        *,
        input_keys: Sequence[str] | None = None,
        output_key: str | None = "label",
        name: str = "",
    ) -> Dataset:
        """Build a dataset from dicts.

        Args:
            records: one dict per example.
            input_keys: the keys that become ``inputs``; default every key but ``output_key``.
            output_key: the key holding the expected output; ``None`` for unlabelled data.
            name: the dataset name.

        Raises:
            ConfigError: a record is not a dict, or lacks ``output_key`` or an input key.
        """
        return cls(
            (
                record_to_example(rec, f"record {i}", input_keys, output_key)
                for i, rec in enumerate(records)
            ),
            name=name,
        )

    @classmethod
    def from_jsonl(
        cls,
        path: PathLike,
        *,
        input_keys: Sequence[str] | None = None,
        output_key: str | None = "label",
        encoding: str = "utf-8",
        name: str | None = None,
    ) -> Dataset:
        """Load a JSON Lines file: one JSON object per line (blank lines are skipped).

        Raises:
            ConfigError: the file is missing, empty, not in ``encoding``, or a line is not a
                JSON object with the expected keys (the message names file and line).
        """
        examples = read_jsonl(path, input_keys, output_key, encoding)
        return cls(examples, name=default_name(path) if name is None else name)

    @classmethod
    def from_csv(
        cls,
        path: PathLike,
        *,
        input_keys: Sequence[str] | None = None,
        output_key: str | None = "label",
        encoding: str = "utf-8",
        delimiter: str = ",",
        name: str | None = None,
    ) -> Dataset:
        """Load a CSV file whose first row is the header. Values stay strings.

        Raises:
            ConfigError: the file is missing, empty, not in ``encoding``, has no data rows,
                lacks the output or an input column, or a row has the wrong number of fields.
        """
        examples = read_csv(path, input_keys, output_key, encoding, delimiter)
        return cls(examples, name=default_name(path) if name is None else name)

    # -- operations --------------------------------------------------------------------------

    def duplicates(self) -> list[list[int]]:
        """Groups of indices of examples with the same :attr:`Example.id` (groups of 2+)."""
        groups: dict[str, list[int]] = {}
        for i, ex in enumerate(self._examples):
            groups.setdefault(ex.id, []).append(i)
        return [g for g in groups.values() if len(g) > 1]

    def dedupe(self) -> Dataset:
        """A copy without duplicate examples (same inputs and output); the first one is kept."""
        seen: set[str] = set()
        kept: list[Example] = []
        for ex in self._examples:
            key = ex.id
            if key not in seen:
                seen.add(key)
                kept.append(ex)
        return Dataset(kept, name=self.name)

    def labels(self) -> list[Any]:
        """The outputs of all examples, in order."""
        return [ex.output for ex in self._examples]

    def split(
        self,
        *,
        train: float = 0.6,
        validation: float = 0.2,
        test: float = 0.2,
        seed: int = 0,
        stratify: bool = True,
    ) -> Splits:
        """Split into disjoint train / validation / test sets that cover every example.

        Sizes follow the fractions (largest-remainder rounding, so they sum to ``len(self)``).
        With ``stratify`` and hashable labels, every class is spread over the splits in
        proportion (within two examples); otherwise the split is a plain seeded shuffle.
        The same seed gives the same splits.

        Raises:
            ConfigError: the dataset is empty, or a fraction is negative or they do not sum to 1.
        """
        fractions = (train, validation, test)
        if any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
            raise ConfigError(
                f"split fractions must be >= 0 and sum to 1, got train={train}, "
                f"validation={validation}, test={test}"
            )
        n = len(self)
        if n == 0:
            raise ConfigError(f"cannot split an empty dataset {self.name!r}")
        sizes = _apportion(n, fractions)
        rng = random.Random(seed)
        order = self._stratified_order(rng) if stratify else rng.sample(range(n), n)
        parts: list[Dataset] = []
        start = 0
        for part_name, size in zip(("train", "validation", "test"), sizes, strict=True):
            chunk = order[start : start + size]
            start += size
            rng.shuffle(chunk)
            label = f"{self.name}/{part_name}" if self.name else part_name
            parts.append(Dataset([self._examples[i] for i in chunk], name=label))
        return Splits(*parts)

    def _stratified_order(self, rng: random.Random) -> list[int]:
        """Indices ordered so that every prefix holds each class in proportion.

        Each class's shuffled members get evenly spaced keys ``(j + u_c) / n_c`` with a random
        class offset ``u_c``; sorting by key interleaves the classes (systematic sampling).
        """
        by_class: dict[Hashable, list[int]] = {}
        for i, ex in enumerate(self._examples):
            label = ex.output
            if not isinstance(label, Hashable):
                return rng.sample(range(len(self)), len(self))
            try:
                by_class.setdefault(label, []).append(i)
            except TypeError:  # hashable type holding unhashable parts, e.g. a tuple of lists
                return rng.sample(range(len(self)), len(self))
        keyed: list[tuple[float, float, int]] = []
        for members in by_class.values():
            rng.shuffle(members)
            offset = rng.random()
            size = len(members)
            keyed.extend(((j + offset) / size, rng.random(), i) for j, i in enumerate(members))
        keyed.sort()
        return [i for _, _, i in keyed]

    def sample(self, k: int, rng: random.Random) -> list[Example]:
        """``k`` distinct examples drawn at random (all of them, shuffled, if ``k >= len``).

        Costs O(k): it neither copies nor scans the dataset.

        Raises:
            ConfigError: ``k`` is negative, or the dataset is empty and ``k > 0``.
        """
        if k < 0:
            raise ConfigError(f"sample size must be >= 0, got {k}")
        n = len(self._examples)
        if n == 0 and k > 0:
            raise ConfigError(f"cannot sample from an empty dataset {self.name!r}")
        return [self._examples[i] for i in rng.sample(range(n), min(k, n))]


def _apportion(n: int, fractions: Sequence[float]) -> list[int]:
    """Integer sizes summing to ``n``, proportional to ``fractions`` (largest remainder)."""
    total = sum(fractions)
    exact = [n * f / total for f in fractions]
    sizes = [int(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] - sizes[i]), i))
    for i in by_remainder[: n - sum(sizes)]:
        sizes[i] += 1
    return sizes
