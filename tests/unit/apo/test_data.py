"""apo_core.data: examples, loaders, splits and minibatch sampling."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apo_core.data import Dataset, Example, Splits
from apo_core.errors import ConfigError


def _dataset(labels: list[Any]) -> Dataset:
    return Dataset(
        Example(inputs={"text": f"t{i}"}, output=label, metadata={"i": i})
        for i, label in enumerate(labels)
    )


# -- Example ---------------------------------------------------------------------------------


def test_example_id_is_stable_and_content_based() -> None:
    a = Example(inputs={"a": 1, "b": "x"}, output="yes", metadata={"src": 1})
    b = Example(inputs={"b": "x", "a": 1}, output="yes", metadata={"src": 2})
    assert a.id == b.id  # key order and metadata do not matter
    assert len(a.id) == 16
    assert a.id != Example(inputs={"a": 1, "b": "x"}, output="no").id
    assert a.id != Example(inputs={"a": 2, "b": "x"}, output="yes").id
    # A known value: the hash must not change between releases (caches and checkpoints).
    assert Example(inputs={"q": "hi"}, output=1).id == "e30b9a8dbd6593db"
    assert a.label == "yes"


def test_example_is_immutable_and_hashes_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import apo_core.data.example

    hashed: list[bytes] = []
    real = apo_core.data.example.hashlib.sha256

    def counting(data: bytes) -> Any:
        hashed.append(data)
        return real(data)

    monkeypatch.setattr(apo_core.data.example.hashlib, "sha256", counting)
    ex = Example(inputs={"q": "hi"}, output=1)
    assert [ex.id for _ in range(5)] == ["e30b9a8dbd6593db"] * 5
    assert len(hashed) == 1  # the hot path (memo lookups, fingerprints) hashes once
    with pytest.raises(ValueError, match="frozen"):
        ex.output = 0  # type: ignore[misc]
    changed = ex.model_copy(update={"output": 0})
    assert changed.id == Example(inputs={"q": "hi"}, output=0).id != ex.id
    assert ex.model_dump() == {"inputs": {"q": "hi"}, "output": 1, "metadata": {}}
    assert Example.model_validate_json(ex.model_dump_json()) == ex
    same = Example(inputs={"q": "hi"}, output=1, metadata={"other": True})
    assert hash(same) == hash(ex) and len({ex, Example(inputs={"q": "hi"}, output=1)}) == 1


def test_metadata_default_is_not_shared() -> None:
    a, b = Example(inputs={"x": 1}), Example(inputs={"x": 2})
    a.metadata["k"] = 1
    assert b.metadata == {}


# -- Dataset and records ---------------------------------------------------------------------


def test_dataset_is_a_sequence() -> None:
    ds = Dataset([{"inputs": {"x": 1}, "output": 0}, Example(inputs={"x": 2})], name="d")
    assert len(ds) == 2 and ds[0].output == 0 and ds[-1].inputs == {"x": 2}
    assert isinstance(ds[:1], Dataset) and len(ds[:1]) == 1
    assert [ex.inputs["x"] for ex in ds] == [1, 2]
    assert ds[0] in ds
    assert "2 examples" in repr(ds)
    with pytest.raises(ConfigError, match="item 0"):
        Dataset([42])  # type: ignore[list-item]


def test_from_records_default_and_explicit_input_keys() -> None:
    records = [{"text": "a", "topic": "t", "label": 1}]
    ds = Dataset.from_records(records)
    assert ds[0].inputs == {"text": "a", "topic": "t"} and ds[0].output == 1
    only = Dataset.from_records(records, input_keys=["text"])
    assert only[0].inputs == {"text": "a"}
    unlabelled = Dataset.from_records([{"text": "a"}], output_key=None)
    assert unlabelled[0].output is None


def test_from_records_errors_name_the_record() -> None:
    with pytest.raises(ConfigError, match=r"record 1: missing the output key 'label'"):
        Dataset.from_records([{"text": "a", "label": 1}, {"text": "b"}])
    with pytest.raises(ConfigError, match="missing input key"):
        Dataset.from_records([{"text": "a", "label": 1}], input_keys=["question"])
    with pytest.raises(ConfigError, match="expected an object"):
        Dataset.from_records([["not", "a", "dict"]])  # type: ignore[list-item]


# -- JSONL -----------------------------------------------------------------------------------


def test_from_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "liar.jsonl"
    path.write_text('{"text": "a", "label": 1}\n\n{"text": "b\\u2028c", "label": 0}\n')
    ds = Dataset.from_jsonl(path)
    assert ds.name == "liar"
    assert [ex.output for ex in ds] == [1, 0]
    assert ds[1].inputs["text"] == "b\u2028c"
    assert ds[1].metadata["line"] == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "a", "label": 1}\n{"text": oops}\n', r"bad\.jsonl:2: invalid JSON"),
        ('{"text": "a", "label": 1}\n[1, 2]\n', r"bad\.jsonl:2: expected an object"),
        ('{"text": "a"}\n', r"bad\.jsonl:1: missing the output key 'label'"),
        ("", r"bad\.jsonl: the file is empty"),
        ("\n  \n", r"bad\.jsonl: the file is empty"),
    ],
)
def test_from_jsonl_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        Dataset.from_jsonl(path)


def test_wrong_encoding_is_reported_with_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.jsonl"
    path.write_bytes('{"text": "ok", "label": 1}\n{"text": "café", "label": 0}\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin\.jsonl:2: not valid utf-8.*encoding="):
        Dataset.from_jsonl(path)
    assert Dataset.from_jsonl(path, encoding="latin-1")[1].inputs["text"] == "café"


def test_utf8_bom_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"text": "a", "label": 1}\n')
    assert Dataset.from_jsonl(path)[0].inputs == {"text": "a"}
    with pytest.raises(ConfigError, match="no such file"):
        Dataset.from_jsonl(tmp_path / "missing.jsonl")


# -- CSV -------------------------------------------------------------------------------------


def test_from_csv(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text('text,topic,label\n"multi\nline, with comma",news,1\nb,sport,0\n')
    ds = Dataset.from_csv(path)
    assert ds[0].inputs == {"text": "multi\nline, with comma", "topic": "news"}
    assert [ex.output for ex in ds] == ["1", "0"]
    assert Dataset.from_csv(path, input_keys=["text"])[1].inputs == {"text": "b"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("text,answer\na,1\n", r"bad\.csv:1: no column 'label'"),
        ("text,label\na,1\nb,0,extra\n", r"bad\.csv:3: expected 2 fields"),
        ("text,label\na\n", r"bad\.csv:2: expected 2 fields"),
        ("text,label\n", r"bad\.csv: a header but no data rows"),
        ("text,text,label\na,b,1\n", r"bad\.csv:1: repeated column name\(s\) \['text'\]"),
        ("", r"bad\.csv: the file is empty"),
    ],
)
def test_from_csv_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        Dataset.from_csv(path)


# -- duplicates ------------------------------------------------------------------------------


def test_dedupe_keeps_first_and_reports_groups() -> None:
    ds = Dataset.from_records(
        [
            {"t": "a", "label": 1},
            {"t": "b", "label": 1},
            {"t": "a", "label": 1},
            {"t": "a", "label": 0},
        ]
    )
    assert ds.duplicates() == [[0, 2]]
    deduped = ds.dedupe()
    assert [(ex.inputs["t"], ex.output) for ex in deduped] == [("a", 1), ("b", 1), ("a", 0)]
    assert deduped.duplicates() == []


# -- splits ----------------------------------------------------------------------------------

FRACTIONS = st.sampled_from([(0.6, 0.2, 0.2), (0.5, 0.5, 0.0), (1.0, 0.0, 0.0), (0.7, 0.1, 0.2)])
LABELS = st.one_of(
    st.lists(st.sampled_from(["yes", "no"]), max_size=120),
    st.lists(st.integers(0, 3), max_size=120),
    st.lists(st.lists(st.integers(0, 1), max_size=1), max_size=40),  # unhashable labels
)


@settings(max_examples=80, deadline=None)
@given(labels=LABELS, fractions=FRACTIONS, seed=st.integers(0, 2**32))
def test_split_is_disjoint_covering_sized_and_deterministic(
    labels: list[Any], fractions: tuple[float, float, float], seed: int
) -> None:
    ds = _dataset(labels)
    train, validation, test = fractions
    if not labels:
        with pytest.raises(ConfigError, match="empty"):
            ds.split(train=train, validation=validation, test=test, seed=seed)
        return
    splits = ds.split(train=train, validation=validation, test=test, seed=seed)
    assert isinstance(splits, Splits)
    ids = [[ex.metadata["i"] for ex in part] for part in splits]
    flat = [i for part in ids for i in part]
    assert sorted(flat) == list(range(len(labels)))  # disjoint and covering
    for part, fraction in zip(splits, fractions, strict=True):
        assert abs(len(part) - fraction * len(labels)) < 1.0 + 1e-9
    again = ds.split(train=train, validation=validation, test=test, seed=seed)
    assert [[ex.metadata["i"] for ex in part] for part in again] == ids


@settings(max_examples=60, deadline=None)
@given(labels=st.lists(st.sampled_from(["a", "b"]), min_size=10, max_size=300), seed=st.integers())
def test_split_is_stratified(labels: list[str], seed: int) -> None:
    splits = _dataset(labels).split(seed=seed)
    for cls in ("a", "b"):
        total = labels.count(cls)
        for part, fraction in zip(splits, (0.6, 0.2, 0.2), strict=True):
            in_part = sum(1 for ex in part if ex.output == cls)
            assert abs(in_part - fraction * total) <= 2.0


def test_split_seed_changes_split_and_names() -> None:
    ds = _dataset(["x"] * 50)
    ds.name = "liar"
    a, b = ds.split(seed=1), ds.split(seed=2)
    assert [ex.metadata["i"] for ex in a.train] != [ex.metadata["i"] for ex in b.train]
    assert a.validation.name == "liar/validation"
    unstratified = ds.split(seed=1, stratify=False)
    assert sorted(ex.metadata["i"] for part in unstratified for ex in part) == list(range(50))


@pytest.mark.parametrize("fractions", [(0.5, 0.5, 0.5), (-0.2, 0.6, 0.6), (0.5, 0.2, 0.2)])
def test_split_rejects_bad_fractions(fractions: tuple[float, float, float]) -> None:
    train, validation, test = fractions
    with pytest.raises(ConfigError, match="sum to 1"):
        _dataset([1, 2, 3]).split(train=train, validation=validation, test=test)


# -- sampling --------------------------------------------------------------------------------


class _CountingList(list[Example]):
    """A list that counts item reads and refuses to be iterated or copied."""

    reads = 0

    def __getitem__(self, index: Any) -> Any:
        type(self).reads += 1
        return super().__getitem__(index)

    def __iter__(self) -> Any:
        raise AssertionError("sample() must not scan the dataset")


def test_sample_reads_only_k_examples() -> None:
    ds = Dataset([])
    big = _CountingList(Example(inputs={"x": i}) for i in range(100_000))
    ds._examples = big
    rng = random.Random(0)
    for _ in range(200):
        batch = ds.sample(64, rng)
        assert len({ex.inputs["x"] for ex in batch}) == 64
    assert _CountingList.reads == 200 * 64


def test_sample_is_seeded_and_bounded() -> None:
    ds = _dataset(list(range(10)))
    assert ds.sample(4, random.Random(3)) == ds.sample(4, random.Random(3))
    everything = ds.sample(50, random.Random(0))
    assert sorted(ex.metadata["i"] for ex in everything) == list(range(10))
    assert ds.sample(0, random.Random(0)) == []
    with pytest.raises(ConfigError, match=">= 0"):
        ds.sample(-1, random.Random(0))
    with pytest.raises(ConfigError, match="empty"):
        Dataset([]).sample(1, random.Random(0))
