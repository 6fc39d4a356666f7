"""Count SELFIES symbols and molecule-3D joint tokens over a corpus (``biomatrix vocab build``).

Accepted inputs, one record per line:
- JSONL with ``text`` (wrapped segments are found with :func:`unwrap`), ``struct_sfi`` (MolStrucTok
  output), ``selfies`` or ``smiles`` fields;
- ``.smi``/``.txt``: a SMILES per line (first whitespace-separated column).
Unparseable records are counted and reported, never silently skipped.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from biomatrix_plugin.modalities.serialization import (
    FRAGMENT_SEPARATOR,
    SerializationError,
    parse_joint_tokens,
    smiles_to_selfies,
    split_selfies,
    unwrap,
    validate_smiles,
)


@dataclass
class CorpusCounts:
    selfies: Counter = field(default_factory=Counter)
    joint: Counter = field(default_factory=Counter)
    records: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (record id, reason)

    def add_selfies(self, selfies: str) -> None:
        self.selfies.update(s for s in split_selfies(selfies) if s != FRAGMENT_SEPARATOR)

    def add_joint(self, struct_sfi: str) -> None:
        pairs = parse_joint_tokens(struct_sfi)
        self.joint.update(f"{s[:-1]} {c}]" for s, c in pairs)


def _open(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def iter_records(path: Path) -> Iterator[tuple[str, dict]]:
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    with _open(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            rid = f"{path.name}:{lineno}"
            if name.endswith((".jsonl", ".json")):
                try:
                    yield rid, json.loads(line)
                except json.JSONDecodeError as exc:
                    yield rid, {"__error__": f"invalid JSON ({exc.msg})"}
            elif lineno == 1 and line.split()[0].lower() == "smiles":
                continue  # a column header, as in ZINC20's "smiles zinc_id" tranches
            else:
                yield rid, {"smiles": line.split()[0]}


def count_records(records: Iterable[tuple[str, dict]], counts: CorpusCounts | None = None) -> CorpusCounts:
    counts = counts or CorpusCounts()
    for rid, rec in records:
        counts.records += 1
        try:
            if "__error__" in rec:
                raise SerializationError(rec["__error__"])
            used = False
            if rec.get("text"):
                res = unwrap(rec["text"], check_vocabulary=False)
                for seg in res.errors:
                    counts.rejected.append((f"{rid} [{seg.modality} segment]", seg.error))
                for s in res.values("selfies"):
                    counts.add_selfies(s)
                for s in res.values("mol3d"):
                    counts.add_joint(s)
                used = True
            if rec.get("struct_sfi"):
                counts.add_joint(rec["struct_sfi"])
                used = True
            if rec.get("selfies"):
                counts.add_selfies(rec["selfies"])
                used = True
            elif rec.get("smiles"):
                # Count the SELFIES of the RDKit-canonical SMILES, which is what the corpus builders and
                # wrap_selfies(smiles=..., canonicalize=True) emit: a kekulé input such as NCI's "C1=CNC=C1"
                # never shows [NH1], while its canonical aromatic form "c1cc[nH]c1" does.
                counts.add_selfies(smiles_to_selfies(validate_smiles(rec["smiles"], canonicalize=True)))
                used = True
            if not used:
                raise SerializationError("no text, struct_sfi, selfies or smiles field")
        except SerializationError as exc:
            counts.rejected.append((rid, " ".join(str(exc).split())))
    return counts


def count_files(paths: Iterable[str | Path], progress: bool = True) -> CorpusCounts:
    from tqdm import tqdm

    counts = CorpusCounts()
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"corpus file not found: {path}")
        count_records(tqdm(iter_records(path), desc=f"counting {path.name}", disable=not progress, unit="rec"), counts)
    return counts
