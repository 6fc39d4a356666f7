"""Count SELFIES symbols and molecule-3D joint tokens over a corpus (``biomatrix vocab build``).

Accepted inputs, one record per line:
- JSONL with ``text`` (wrapped segments are found with :func:`unwrap`), ``struct_sfi`` (MolStrucTok
  output), ``selfies`` or ``smiles`` fields;
- ``.smi``/``.txt``: a SMILES per line (first whitespace-separated column).
Unparseable records are counted and reported, never silently skipped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from biomatrix_plugin.errors import InputFileError
from biomatrix_plugin.io import BadLine, iter_jsonl, iter_lines
from biomatrix_plugin.modalities.serialization import (
    FRAGMENT_SEPARATOR,
    SerializationError,
    check_struct_sfi,
    parse_joint_tokens,
    smiles_to_selfies,
    split_selfies,
    unwrap,
    validate_smiles,
)

FIELDS = ("text", "struct_sfi", "selfies", "smiles")


@dataclass(frozen=True)
class BadRecord:
    """A line that is not a record (not UTF-8, not JSON, not a JSON object); ``reason`` says why."""

    reason: str


@dataclass
class CorpusCounts:
    selfies: Counter = field(default_factory=Counter)
    joint: Counter = field(default_factory=Counter)
    records: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (record id, reason)

    def add_selfies(self, selfies: str) -> None:
        self.selfies.update(s for s in split_selfies(selfies) if s != FRAGMENT_SEPARATOR)

    def add_joint(self, struct_sfi: str) -> None:
        # the validator of wrap and decode: the vocabulary counts only strings a model can be trained on
        pairs = parse_joint_tokens(check_struct_sfi(struct_sfi))
        self.joint.update(f"{s[:-1]} {c}]" for s, c in pairs)


def _is_jsonl(path: Path) -> bool:
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    return name.endswith((".jsonl", ".json"))


def _jsonl_records(path: Path) -> Iterator[tuple[str, dict | BadRecord]]:
    for lineno, value, error in iter_jsonl(path):
        rid = f"{path.name}:{lineno}"
        if error is not None:
            yield rid, BadRecord(error)
        elif not isinstance(value, dict):
            yield rid, BadRecord(f"a JSON {type(value).__name__}, expected an object with one of "
                                 f"{', '.join(FIELDS)}")
        else:
            yield rid, value


def _smiles_records(path: Path) -> Iterator[tuple[str, dict | BadRecord]]:
    for lineno, line in iter_lines(path):
        rid = f"{path.name}:{lineno}"
        if isinstance(line, BadLine):
            yield rid, BadRecord(line.reason)
        elif not line.strip():
            continue
        elif lineno == 1 and line.split()[0].lower() == "smiles":
            continue  # a column header, as in ZINC20's "smiles zinc_id" tranches
        else:
            yield rid, {"smiles": line.split()[0]}


def iter_records(path: Path) -> Iterator[tuple[str, dict | BadRecord]]:
    """``(record id, record)`` per non-blank line of a JSONL or SMILES file (plain or ``.gz``); a line
    that is not a record is a :class:`BadRecord`. A truncated or non-gzip file is an InputFileError."""
    path = Path(path)
    return _jsonl_records(path) if _is_jsonl(path) else _smiles_records(path)


def _field(rec: dict, name: str) -> str | None:
    value = rec.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise SerializationError(f"field {name!r} is a {type(value).__name__}, expected a string")
    return value


def _count_text(text: str, rid: str, counts: CorpusCounts) -> None:
    res = unwrap(text, check_vocabulary=False)
    for seg in res.errors:
        counts.rejected.append((f"{rid} [{seg.modality} segment]", seg.error))
    for s in res.values("selfies"):
        counts.add_selfies(s)
    for s in res.values("mol3d"):
        counts.add_joint(s)


def _count_record(rid: str, rec: dict | BadRecord, counts: CorpusCounts) -> None:
    if isinstance(rec, BadRecord):
        raise SerializationError(rec.reason)
    text, struct_sfi, selfies, smiles = (_field(rec, name) for name in FIELDS)
    if not any((text, struct_sfi, selfies, smiles)):
        raise SerializationError("no text, struct_sfi, selfies or smiles field")
    if text:
        _count_text(text, rid, counts)
    if struct_sfi:
        counts.add_joint(struct_sfi)
    if selfies:
        counts.add_selfies(selfies)
    elif smiles:
        # Count the SELFIES of the RDKit-canonical SMILES, which is what the corpus builders and
        # wrap_selfies(smiles=..., canonicalize=True) emit: a kekulé input such as NCI's "C1=CNC=C1"
        # never shows [NH1], while its canonical aromatic form "c1cc[nH]c1" does.
        counts.add_selfies(smiles_to_selfies(validate_smiles(smiles, canonicalize=True)))


def count_records(records: Iterable[tuple[str, dict | BadRecord]], counts: CorpusCounts | None = None) -> CorpusCounts:
    """Count every record; a record that cannot be counted is a reject with its reason (a text record's
    malformed segments are one reject each, and its good segments still count)."""
    counts = counts or CorpusCounts()
    for rid, rec in records:
        counts.records += 1
        try:
            _count_record(rid, rec, counts)
        except SerializationError as exc:
            counts.rejected.append((rid, " ".join(str(exc).split())))
    return counts


def count_files(paths: Iterable[str | Path], progress: bool = True) -> CorpusCounts:
    """Count every file; a missing one stops before anything is counted."""
    from tqdm import tqdm

    paths = [Path(p) for p in paths]
    for path in paths:
        if not path.is_file():
            raise InputFileError(f"corpus file not found: {path}" if not path.exists()
                                 else f"{path}: not a file (expected a JSONL or SMILES corpus file)")
    counts = CorpusCounts()
    for path in paths:
        count_records(tqdm(iter_records(path), desc=f"counting {path.name}", disable=not progress, unit="rec"), counts)
    return counts
