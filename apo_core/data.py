"""Examples and datasets: loaders (records, JSONL, CSV), seeded stratified splits, minibatches.

An :class:`Example` holds the template variables of one task instance (``inputs``), its expected
output or label (``output``) and free ``metadata``. A :class:`Dataset` is an immutable sequence of
examples. Loaders raise :class:`~apo_core.errors.ConfigError` naming the file and line at fault.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, overload

from pydantic import BaseModel, Field

from apo_core.errors import ConfigError

__all__ = ["Dataset", "Example", "Splits"]

PathLike = str | os.PathLike[str]


class Example(BaseModel):
    """One task instance.

    Attributes:
        inputs: template variables -> values (``{"question": "..."}``).
        output: the expected output or label; ``None`` means unlabelled.
        metadata: anything else (source, row number, ...); not part of :attr:`id`.
    """

    inputs: dict[str, Any]
    output: Any = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
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
                _record_to_example(rec, f"record {i}", input_keys, output_key)
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
        text = _read_text(path, encoding)
        examples: list[Example] = []
        for lineno, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            where = f"{os.fspath(path)}:{lineno}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(
                    f"{where}: invalid JSON ({exc.msg} at column {exc.colno})"
                ) from exc
            example = _record_to_example(record, where, input_keys, output_key)
            example.metadata.setdefault("line", lineno)
            examples.append(example)
        if not examples:
            raise ConfigError(f"{os.fspath(path)}: no records (the file has only blank lines)")
        return cls(examples, name=_default_name(path) if name is None else name)

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
        text = _read_text(path, encoding)
        where = os.fspath(path)
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
        try:
            header = reader.fieldnames
        except csv.Error as exc:
            raise ConfigError(f"{where}:1: unreadable CSV header ({exc})") from exc
        if not header:
            raise ConfigError(f"{where}: no header row")
        repeated = sorted({name for name in header if header.count(name) > 1})
        if repeated:
            raise ConfigError(f"{where}:1: repeated column name(s) {repeated} in the header")
        if output_key is not None and output_key not in header:
            raise ConfigError(
                f"{where}:1: no column {output_key!r} for the output; the columns are "
                f"{list(header)} (pass output_key=... or output_key=None for unlabelled data)"
            )
        examples: list[Example] = []
        try:
            for row in reader:
                at = f"{where}:{reader.line_num}"
                if None in row or any(v is None for v in row.values()):
                    raise ConfigError(
                        f"{at}: expected {len(header)} fields as in the header, "
                        f"got a different number"
                    )
                example = _record_to_example(row, at, input_keys, output_key)
                example.metadata.setdefault("line", reader.line_num)
                examples.append(example)
        except csv.Error as exc:
            raise ConfigError(f"{where}:{reader.line_num}: malformed CSV ({exc})") from exc
        if not examples:
            raise ConfigError(f"{where}: a header but no data rows")
        return cls(examples, name=_default_name(path) if name is None else name)

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


def _default_name(path: PathLike) -> str:
    return os.path.splitext(os.path.basename(os.fspath(path)))[0]


def _read_text(path: PathLike, encoding: str) -> str:
    where = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError as exc:
        raise ConfigError(f"{where}: no such file") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"{where}: is a directory, not a data file") from exc
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read ({exc.strerror or exc})") from exc
    try:
        text = raw.decode(
            "utf-8-sig" if encoding.lower().replace("_", "-") == "utf-8" else encoding
        )
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{where}:{line}: not valid {encoding} (byte {exc.start}: {exc.reason}); "
            f"pass the file's encoding, e.g. encoding='latin-1' or 'cp1252'"
        ) from exc
    except LookupError as exc:
        raise ConfigError(f"unknown encoding {encoding!r}") from exc
    if not text.strip():
        raise ConfigError(f"{where}: the file is empty")
    return text


def _record_to_example(
    record: Any,
    where: str,
    input_keys: Sequence[str] | None,
    output_key: str | None,
) -> Example:
    if not isinstance(record, Mapping):
        raise ConfigError(f"{where}: expected an object/dict, got {type(record).__name__}")
    if output_key is not None and output_key not in record:
        raise ConfigError(
            f"{where}: missing the output key {output_key!r}; keys are {sorted(map(str, record))} "
            f"(pass output_key=... or output_key=None for unlabelled data)"
        )
    if input_keys is None:
        inputs = {str(k): v for k, v in record.items() if k != output_key}
    else:
        missing = [k for k in input_keys if k not in record]
        if missing:
            raise ConfigError(
                f"{where}: missing input key(s) {missing}; keys are {sorted(map(str, record))}"
            )
        inputs = {k: record[k] for k in input_keys}
    if not inputs:
        raise ConfigError(f"{where}: no input fields (only the output key {output_key!r})")
    output = record[output_key] if output_key is not None else None
    return Example(inputs=inputs, output=output)


def _apportion(n: int, fractions: Sequence[float]) -> list[int]:
    """Integer sizes summing to ``n``, proportional to ``fractions`` (largest remainder)."""
    total = sum(fractions)
    exact = [n * f / total for f in fractions]
    sizes = [int(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] - sizes[i]), i))
    for i in by_remainder[: n - sum(sizes)]:
        sizes[i] += 1
    return sizes
