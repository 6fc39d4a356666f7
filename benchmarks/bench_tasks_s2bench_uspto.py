"""Converter throughput of the S²-Bench (OpenMolIns / TOMG-Bench) and USPTO-50K converters: rows/s on one
core (process CPU time) on synthetic rows in the published layouts, RDKit parsing included. Molecules are
RDKit's bundled NCI set (about 4,750 distinct), each used once per converter run (no cache hit on a
repeated molecule).

- s2bench: OpenMolIns ``train.csv`` rows (SubTask, Instruction, molecule) of the editing, optimisation and
  customised-generation sub-tasks in turn; the input molecule is found inside the instruction by RDKit and
  the target molecule canonicalised (two molecules per editing/optimisation row, one per MolCustom row).
- uspto50k: ``id, class, reactants>reagents>production`` rows with two atom-mapped reactants and an
  atom-mapped product (three molecules per row), maps stripped and every side canonicalised.

Prints one JSON line per converter with the measured figure, the target (issue: >= 2,000 rows/s) and the
RDKit floor: the rate if a row cost only RDKit's parse + canonical SMILES of its molecules.
Run: ``python benchmarks/bench_tasks_s2bench_uspto.py`` (< 1 minute on one core).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TARGET = 2000.0
N = 2000  # S²-Bench rows (two distinct molecules each)


def _molecules() -> list[str]:
    from rdkit import Chem

    from biomatrix_plugin.demo.data import nci_smiles_path
    from biomatrix_plugin.io import quiet_rdkit

    out = []
    with quiet_rdkit():
        for line in nci_smiles_path().read_text().splitlines():
            smi = line.split()[0] if line.strip() else ""
            mol = Chem.MolFromSmiles(smi) if smi and "." not in smi else None
            if mol is not None and 3 <= mol.GetNumAtoms() <= 60:
                out.append(Chem.MolToSmiles(mol))
    return list(dict.fromkeys(out))


def _mapped(smiles: str, start: int) -> str:
    """The molecule with atom-map numbers start, start+1, ... in a non-canonical atom order (as USPTO)."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    for i, atom in enumerate(mol.GetAtoms()):
        atom.SetAtomMapNum(start + i)
    return Chem.MolToSmiles(mol, canonical=False)


def _s2bench_rows(mols: list[str]) -> list[tuple[dict, str]]:
    """N rows, AddComponent / LogP / AtomNum in turn (one family of each converter path)."""
    rows = []
    for i in range(N):
        source, target = mols[2 * i], mols[2 * i + 1]
        kind = i % 3
        if kind == 0:
            rows.append(({"SubTask": "AddComponent",
                          "Instruction": f"Please add a hydroxyl to the molecule {source}.", "molecule": target},
                         "AddComponent"))
        elif kind == 1:
            rows.append(({"SubTask": "LogP", "Instruction": f"Modify the molecule {source} to decrease its LogP "
                          "value.", "molecule": target}, "LogP"))
        else:
            rows.append(({"SubTask": "AtomNum", "Instruction": f"The molecule has {1 + i % 30} carbon atoms, "
                          f"{1 + i % 3} oxygen atoms, and 1 nitrogen atom.", "molecule": target}, "AtomNum"))
    return rows


def _rdkit_floor(molecules: list[str], n_rows: int) -> float:
    """Rows/s if a row cost nothing but RDKit's parse + canonical SMILES of its molecules (no converter can
    go under it), measured on the same molecules in the same process."""
    from rdkit import Chem

    from biomatrix_plugin.io import quiet_rdkit

    start = time.process_time()
    with quiet_rdkit():
        for smiles in molecules:
            Chem.MolToSmiles(Chem.MolFromSmiles(smiles))
    return n_rows / max(time.process_time() - start, 1e-9)


def _rate(convert, rows, ctx_of) -> tuple[float, int]:
    """(rows/s of process CPU time, rows rejected); a reject is a converted row too (same parsing work)."""
    from biomatrix_plugin.corpus.records import RecordRejected

    rejected = 0
    start = time.process_time()
    for row in rows:
        try:
            convert(row, ctx_of(row))
        except RecordRejected:
            rejected += 1
    return len(rows) / max(time.process_time() - start, 1e-9), rejected


def main() -> None:
    from biomatrix_plugin.tasks.converters import Context
    from biomatrix_plugin.tasks.sources.s2bench import convert_s2bench
    from biomatrix_plugin.tasks.sources.uspto import convert_uspto50k, strip_atom_maps

    mols = _molecules()
    if len(mols) < 2 * N:  # each molecule at most once per converter run
        raise SystemExit(f"only {len(mols)} distinct NCI molecules; lower N")
    fields = {"AddComponent": {"molecule": "molecule", "group": "text"},
              "LogP": {"molecule": "molecule", "direction": "text"}, "AtomNum": None}
    contexts = {sub: Context(f"s2bench_{sub}", "fields" if f else "text", "molecule", None, "train",
                             {"subtask": sub}, input_fields=f) for sub, f in fields.items()}
    s2_rows = [row for row, _ in _s2bench_rows(mols)]

    # USPTO reuses the set: its stripped strings ("[CH3][CH2]...", non-canonical atom order) are other keys
    # of the per-component cache than S²-Bench's canonical SMILES, so no row hits the cache
    rest = mols
    uspto_rows = [{"id": f"US{i:08d}A1", "class": str(1 + i % 10),
                   "reactants>reagents>production": f"{_mapped(rest[3 * i], 1)}.{_mapped(rest[3 * i + 1], 80)}>>"
                                                    f"{_mapped(rest[3 * i + 2], 1)}"}
                  for i in range(len(rest) // 3)]
    ctx = Context("uspto50k_retrosynthesis", "molecule", "molecule", None, "train", {})

    s2_molecules = [m for i in range(N) for m in (mols[2 * i], mols[2 * i + 1])[(i % 3 == 2):]]
    uspto_molecules = [strip_atom_maps(x) for row in uspto_rows
                       for side in row["reactants>reagents>production"].split(">>") for x in side.split(".")]
    for name, convert, rows, ctx_of, molecules in (
            ("tasks_s2bench_converter", convert_s2bench, s2_rows, lambda r: contexts[r["SubTask"]], s2_molecules),
            ("tasks_uspto50k_converter", convert_uspto50k, uspto_rows, lambda r: ctx, uspto_molecules)):
        floor = _rdkit_floor(molecules, len(rows))
        rate, rejected = _rate(convert, rows, ctx_of)
        print(json.dumps({"bench": name, "rows_per_s_per_core": round(rate, 1), "target": TARGET,
                          "met": rate >= TARGET, "rows": len(rows), "rejected": rejected,
                          "molecules_per_row": round(len(molecules) / len(rows), 2),
                          "rdkit_floor_rows_per_s": round(floor, 1)}))


if __name__ == "__main__":
    main()
