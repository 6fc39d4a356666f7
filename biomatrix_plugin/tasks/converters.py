"""Converters: one published raw row -> the task's examples (notation-independent, checked values).

A converter is a pure function ``(row, ctx) -> list[Example]`` that raises
:class:`~biomatrix_plugin.corpus.records.RecordRejected` with the reason. The task file names it in
``source.converter`` and gives its options in ``source.options`` (checked against the converter's table).

Each source family is one module of :mod:`biomatrix_plugin.tasks.sources` that defines
``CONVERTERS: dict[str, ConverterSpec]``; :data:`CONVERTERS` here is the union of them, collected on first use
(a name defined twice is an error naming both modules). Adding a source = one module, no table to edit.

A converter that needs the whole dataset before the first record (a seeded split permutation, holdout id
sets, a date split) declares ``prepare``: it runs once per build with a :class:`PrepareContext` and returns
a JSON-able mapping that every record's :class:`Context` carries as ``prepared`` (it is part of the build
fingerprint, so a changed holdout list rebuilds).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from biomatrix_plugin import schema as S
from biomatrix_plugin.corpus.records import RecordRejected
from biomatrix_plugin.errors import ConfigError


@dataclass(frozen=True)
class Example:
    """One instruction example before rendering; ``group`` is what repeated test inputs share (their gold
    answers are pooled, as SMolInstruct's scorer does).

    ``input`` is one value (``input.kind``), a mapping field -> value (``input.fields``) or None (kind
    ``none``); ``raw_input`` is always a string (the grouping key of repeated test inputs).

    ``reference`` is what a metric scores a prediction against when that is not the answer itself: the
    structured side information of a design metric (the source molecule, the requested property and
    direction; the requested counts), a conditioning value, a reference geometry. Entities inside it
    (molecules, proteins) are written per variant, like the answer. ``output`` None = a test example with
    no gold answer (a benchmark that only checks constraints): its rows' ``answer`` is empty."""

    input: Any  # an entity (entities.Molecule, Protein, ...), str, float, a {field: entity} dict, or None
    output: Any
    raw_input: str
    raw_output: Any
    target: str | None = None
    reference: Any = None

    @property
    def group(self) -> tuple[str, str | None]:
        return (self.raw_input, self.target)


@dataclass(frozen=True)
class Context:
    """What a converter knows besides the row: the task's field kinds and label set, the raw split read,
    the converter options and what its ``prepare`` step computed."""

    task_id: str
    input_kind: str  # "fields" when the task declares input.fields
    output_kind: str
    labels: Mapping[str, str] | None
    split: str
    options: Mapping[str, Any]
    input_fields: Mapping[str, str] | None = None  # field name -> entity kind (input.fields)
    prepared: Mapping[str, Any] = dataclass_field(default_factory=dict)
    response: Mapping[str, Any] = dataclass_field(default_factory=dict)  # the task's response section


@dataclass(frozen=True)
class PrepareContext:
    """What a ``prepare`` step sees: the task, the converter options and every raw split's resolved files."""

    task_id: str
    task: Mapping[str, Any]
    raw_root: Path
    options: Mapping[str, Any]
    split_files: Mapping[str, list[Path]]  # raw split -> its files (resolved as the build reads them)

    def files(self, raw_split: str) -> list[Path]:
        return list(self.split_files.get(raw_split, []))

    def all_files(self) -> dict[str, list[Path]]:
        return {k: list(v) for k, v in self.split_files.items()}


@dataclass(frozen=True)
class ConverterSpec:
    function: Callable[[Mapping[str, Any], Context], list[Example]]
    input_format: str  # how the engine splits the raw files into records (corpus.records formats)
    options: S.Kind
    summary: str
    prepare: Callable[[PrepareContext], Mapping[str, Any]] | None = None
    # True when one raw file holds every split and the converter routes each row to its own (a row field, a
    # seeded permutation) raising OtherSubtask elsewhere: then source.path may omit {split}
    routes_splits: bool = False


def field(row: Mapping[str, Any], name: str, where: str | None = None) -> Any:
    """``row[name]``, or a reject naming the missing field and the fields the row has."""
    if not isinstance(row, Mapping):
        raise RecordRejected(f"record is {type(row).__name__}, expected an object with field {name!r}")
    if name not in row:
        raise RecordRejected(f"{where or name}: no {name!r} field (keys: {', '.join(sorted(map(str, row)))})")
    return row[name]


class OtherSubtask(Exception):
    """Raised by a converter for a row that belongs to another sub-task or split of a shared file (MolOpt's
    one train.json and OpenMolIns' train.csv hold all their sub-tasks; MoleculeQA's files hold four categories;
    QM9's one SDF holds every split of its permutation). It is not bad data: the build counts it as
    ``routed`` (per split, in the manifest and the printed counts) instead of filing a reject."""


class ConverterRegistryError(ConfigError):
    """Two source modules define one converter name, or a module's CONVERTERS is not a name -> spec table."""


SOURCES_PACKAGE = "biomatrix_plugin.tasks.sources"


def _collect() -> dict[str, ConverterSpec]:
    package = importlib.import_module(SOURCES_PACKAGE)
    table: dict[str, ConverterSpec] = {}
    owner: dict[str, str] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        name = f"{SOURCES_PACKAGE}.{info.name}"
        module = importlib.import_module(name)
        specs = getattr(module, "CONVERTERS", None)
        if not isinstance(specs, Mapping) or not all(isinstance(s, ConverterSpec) for s in specs.values()):
            raise ConverterRegistryError(f"{name}: must define CONVERTERS = {{name: ConverterSpec}}")
        for key, spec in specs.items():
            if key in table:
                raise ConverterRegistryError(f"converter {key!r} is defined by both {owner[key]} and {name}")
            table[key], owner[key] = spec, name
    return table


class _LazyConverters(Mapping[str, ConverterSpec]):
    """The union of every source module's CONVERTERS, imported on first access (not at import time, so
    ``biomatrix tasks --help`` does not import RDKit-heavy source modules)."""

    def __init__(self) -> None:
        self._table: dict[str, ConverterSpec] | None = None

    def _load(self) -> dict[str, ConverterSpec]:
        if self._table is None:
            self._table = _collect()
        return self._table

    def __getitem__(self, key: str) -> ConverterSpec:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


CONVERTERS: Mapping[str, ConverterSpec] = _LazyConverters()
