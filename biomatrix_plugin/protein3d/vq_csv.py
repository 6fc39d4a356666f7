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
from typing import Iterable, Iterator, Sequence

from biomatrix_plugin.errors import BioMatrixError, InputFileError
from biomatrix_plugin.io import BadLine, atomic_output, iter_lines
from biomatrix_plugin.vocab.tokens import N_PROTEIN_STRUCTURE_CODES, RESIDUE_LETTERS

COLUMNS = ("pid", "indices", "protein_sequence")


class VQCsvError(BioMatrixError, ValueError):
    """The file as a whole is unusable (missing, no header, missing columns)."""


@dataclass
class VQRecord:
    pid: str
    codes: list[int]
    sequence: str


def ascii_code(field: str) -> int | None:
    """The integer written in ``field`` with ASCII digits 0-9 only, else None.

    ``int()`` also reads Arabic-Indic or full-width digits ('١٢٣' is 123), signs, '_' separators and
    surrounding spaces; a structure code is none of those, so such a field is malformed, never a code.
    This is the one digit rule for structure codes (``wrap --modality prot3d`` should apply the same)."""
    return int(field) if field.isascii() and field.isdigit() else None


def parse_codes(indices: str) -> tuple[list[int] | None, str | None]:
    """Space-separated codes 0-4095 -> (codes, None) or (None, reason naming the malformed field)."""
    fields = (indices or "").split()
    if not fields:
        return None, "empty indices"
    codes: list[int] = []
    for position, field in enumerate(fields):
        code = ascii_code(field)
        if code is None and field[:1] == "-" and ascii_code(field[1:]) is not None:
            code = -ascii_code(field[1:])
        if code is None:
            why = " (only ASCII digits 0-9 are read)" if any(c.isdigit() for c in field) else ""
            return None, f"index {field!r} at position {position} is not an integer{why}"
        if not 0 <= code < N_PROTEIN_STRUCTURE_CODES:
            return None, f"index {code} at position {position} outside 0-{N_PROTEIN_STRUCTURE_CODES - 1}"
        codes.append(code)
    return codes, None


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
    codes, reason = parse_codes(indices)
    if codes is None:
        return None, reason
    if len(codes) != len(sequence):
        return None, f"{len(codes)} indices but the sequence has {len(sequence)} residues"
    return VQRecord(pid, codes, sequence), None


def _split_line(line: str) -> list[str]:
    """One physical line -> its CSV fields. No field of this file holds a line break, so each line is
    parsed on its own: an unclosed quote is an error for that line instead of swallowing the rows after
    it (csv.reader over the whole file reads on to the next quote)."""
    line = line.rstrip("\r\n")
    if '"' not in line:
        return line.split(",")
    try:
        return next(csv.reader([line], strict=True))
    except csv.Error as exc:
        raise ValueError(f"malformed CSV quoting ({exc}; an unclosed quote?)") from None


def _numbered_rows(path: Path) -> Iterator[tuple[int, list[str] | None, str | None]]:
    """(line number, fields, None) or (line number, None, reason) per non-blank line, header included."""
    try:
        for lineno, line in iter_lines(path):
            if isinstance(line, BadLine):
                yield lineno, None, line.reason
                continue
            if lineno == 1:
                line = line.removeprefix("\ufeff")
            if not line.strip():
                continue
            try:
                yield lineno, _split_line(line), None
            except ValueError as exc:
                yield lineno, None, str(exc)
    except InputFileError as exc:  # missing, unreadable, truncated .gz: the file is unusable
        raise VQCsvError(f"{path}: cannot open or read ({str(exc).removeprefix(f'{path}: ')})") from None


def read_vq_csv(path: str | os.PathLike) -> tuple[list[VQRecord], list[dict]]:
    """Valid records and rejected rows ``{"source", "row", "line", "pid", "reason"}`` (row: 1-based data
    row, line: 1-based line of the file). Plain or ``.gz``."""
    path = Path(path)
    rows = _numbered_rows(path)
    header = next(rows, None)
    if header is None:
        raise VQCsvError(f"{path}: empty file (expected a header {','.join(COLUMNS)})")
    lineno, names, reason = header
    if names is None:
        raise VQCsvError(f"{path}: line {lineno}: unreadable header ({reason})")
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise VQCsvError(f"{path}: missing column(s) {', '.join(missing)} (header: {','.join(names)})")
    where = {c: names.index(c) for c in COLUMNS}
    records: list[VQRecord] = []
    rejected: list[dict] = []
    seen: dict[str, int] = {}
    for row_number, (lineno, fields, reason) in enumerate(rows, start=1):
        record, pid = None, None
        if fields is not None:
            pid = fields[where["pid"]] if len(fields) > where["pid"] else None
            if len(fields) > len(names):
                reason = "more fields than columns"
            else:
                fields = fields + [""] * (len(names) - len(fields))  # csv.DictReader's rule for short rows
                record, reason = validate_row(pid, fields[where["indices"]], fields[where["protein_sequence"]])
        if record is not None and record.pid in seen:
            record, reason = None, f"duplicate pid (first at row {seen[record.pid]})"
        if record is None:
            rejected.append({"source": str(path), "row": row_number, "line": lineno, "pid": pid,
                             "reason": reason})
            continue
        seen[record.pid] = row_number
        records.append(record)
    return records, rejected


def write_vq_csv(path: str | os.PathLike, records: Iterable[VQRecord]) -> int:
    """Write records in the layout GCP-VQVAE's scripts read and write; returns the row count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    # whole or not at all: an interrupted encode leaves no half table that a later build would read
    with atomic_output(path) as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for record in records:
            if any(c in record.pid for c in "\r\n"):
                raise VQCsvError(f"{path}: pid {record.pid!r} holds a line break; "
                                 "vq_indices.csv rows are one line each")
            writer.writerow([record.pid, " ".join(str(int(c)) for c in record.codes), record.sequence])
            count += 1
    return count


def codes_to_field(codes: Sequence[int]) -> str:
    return " ".join(str(int(c)) for c in codes)
