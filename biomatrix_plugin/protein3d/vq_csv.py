"""``vq_indices.csv``, the interchange file of GCP-VQVAE's encode script and BioMatrix's published
protein structure tokens: columns ``pid``, ``indices`` (space-separated codes 0-4095) and
``protein_sequence``, one row per chain, as many codes as sequence letters.

Reading validates every row and returns the rejected ones with their reasons instead of raising, so a
batch job can count what it kept and what it lost.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from biomatrix_plugin.errors import BioMatrixError
from biomatrix_plugin.vocab.tokens import N_PROTEIN_STRUCTURE_CODES, RESIDUE_LETTERS

COLUMNS = ("pid", "indices", "protein_sequence")


class VQCsvError(BioMatrixError, ValueError):
    """The file as a whole is unusable (missing, no header, missing columns)."""


@dataclass
class VQRecord:
    pid: str
    codes: list[int]
    sequence: str


def validate_row(pid: str, indices: str, sequence: str) -> tuple[VQRecord | None, str | None]:
    """(record, None) or (None, reason)."""
    pid = (pid or "").strip()
    if not pid:
        return None, "empty pid"
    sequence = (sequence or "").strip()
    if not sequence:
        return None, "empty protein_sequence"
    bad_letters = sorted({c for c in sequence if c not in RESIDUE_LETTERS})
    if bad_letters:
        return None, f"protein_sequence has characters outside A-Z: {''.join(bad_letters)!r}"
    fields = (indices or "").split()
    if not fields:
        return None, "empty indices"
    codes: list[int] = []
    for position, field in enumerate(fields):
        try:
            code = int(field)
        except ValueError:
            return None, f"index {field!r} at position {position} is not an integer"
        if not 0 <= code < N_PROTEIN_STRUCTURE_CODES:
            return None, f"index {code} at position {position} outside 0-{N_PROTEIN_STRUCTURE_CODES - 1}"
        codes.append(code)
    if len(codes) != len(sequence):
        return None, f"{len(codes)} indices but the sequence has {len(sequence)} residues"
    return VQRecord(pid, codes, sequence), None


def read_vq_csv(path: str | os.PathLike) -> tuple[list[VQRecord], list[dict]]:
    """Valid records and rejected rows ``{"source", "row", "pid", "reason"}`` (row: 1-based data row)."""
    path = Path(path)
    try:
        handle = open(path, newline="")
    except OSError as exc:
        raise VQCsvError(f"{path}: cannot open ({exc.strerror or exc})") from exc
    records: list[VQRecord] = []
    rejected: list[dict] = []
    seen: dict[str, int] = {}
    with handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None:
            raise VQCsvError(f"{path}: empty file (expected a header {','.join(COLUMNS)})")
        missing = [c for c in COLUMNS if c not in reader.fieldnames]
        if missing:
            raise VQCsvError(f"{path}: missing column(s) {', '.join(missing)} (header: {','.join(reader.fieldnames)})")
        for row_number, row in enumerate(reader, start=1):
            if None in row:  # more fields than header columns
                rejected.append({"source": str(path), "row": row_number, "pid": row.get("pid"),
                                 "reason": "more fields than columns"})
                continue
            record, reason = validate_row(row["pid"], row["indices"], row["protein_sequence"])
            if record is not None and record.pid in seen:
                record, reason = None, f"duplicate pid (first at row {seen[record.pid]})"
            if record is None:
                rejected.append({"source": str(path), "row": row_number, "pid": row.get("pid"), "reason": reason})
                continue
            seen[record.pid] = row_number
            records.append(record)
    return records, rejected


def write_vq_csv(path: str | os.PathLike, records: Iterable[VQRecord]) -> int:
    """Write records in the layout GCP-VQVAE's scripts read and write; returns the row count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for record in records:
            writer.writerow([record.pid, " ".join(str(int(c)) for c in record.codes), record.sequence])
            count += 1
    return count


def codes_to_field(codes: Sequence[int]) -> str:
    return " ".join(str(int(c)) for c in codes)
