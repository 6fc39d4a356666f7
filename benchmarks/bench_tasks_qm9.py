"""QM9 conditional-task converter throughput, MolStrucTok encoding included. Run:
``python benchmarks/bench_tasks_qm9.py``.

Synthetic raw files in the published PyG layout (``raw/gdb9.sdf`` with gdb_1.. names, ``raw/gdb9.sdf.csv``,
``raw/uncharacterized.txt``): QM9-like molecules (<= 9 heavy atoms, C/N/O/F) with RDKit ETKDG coordinates
(embedding is set-up, not measured). Measured: ``prepare_qm9`` once, then per record what a build worker does
for ``qm9_conditional_homo`` on its train split (SDF parse, split lookup, RDKit sanitisation, MolStrucTok
encoding of one molecule, the property with its unit), CPU time of this process on one thread. Rows/s counts
the rows converted; records of other splits (rejected in microseconds) are in the per-record figure.
Target (ours: the report gives none): >= 100 rows/s per core, i.e. the 48,849 train rows in < 10 minutes.
Finishes in < 60 s.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TARGET = 100.0
N_RECORDS = 600
SMILES = ["CC(C)=O", "CCO", "C1CC1", "OCC#N", "CC(N)=O", "c1ccncc1", "CC1=CC=CO1", "OC1COC1", "CN1CCC1",
          "FC(F)C#C", "CC(O)C=O", "NC1=NC=CO1", "C1=CC2CC2O1", "CCN(C)C=O", "OC(=O)C#N", "CC1(C)CC1O"]


def write_raw(root: Path, n: int) -> Path:
    from rdkit import Chem
    from rdkit.Chem import AllChem

    raw = root / "qm9" / "raw"
    raw.mkdir(parents=True)
    rng = random.Random(0)
    blocks, rows = [], ["mol_id,A,B,C,mu,alpha,homo,lumo,gap,r2,zpve,u0,u298,h298,g298,cv,u0_atom,u298_atom,"
                        "h298_atom,g298_atom"]
    for i in range(1, n + 1):
        mol = Chem.AddHs(Chem.MolFromSmiles(SMILES[i % len(SMILES)]))
        AllChem.EmbedMolecule(mol, randomSeed=i)
        mol.SetProp("_Name", f"gdb_{i}")
        blocks.append(Chem.MolToMolBlock(mol) + "$$$$\n")
        homo, lumo = -0.2 - 0.1 * rng.random(), 0.05 * rng.random()
        rows.append(",".join([f"gdb_{i}", "3.1", "2.2", "1.9", f"{3 * rng.random():.4f}", f"{60 * rng.random():.2f}",
                              f"{homo:.4f}", f"{lumo:.4f}", f"{lumo - homo:.4f}"] + ["1.0"] * 6
                             + [f"{30 * rng.random():.3f}"] + ["-1.0"] * 4))
    (raw / "gdb9.sdf").write_text("".join(blocks))
    (raw / "gdb9.sdf.csv").write_text("\n".join(rows) + "\n")
    (raw / "uncharacterized.txt").write_text("\n".join(["header"] * 9 + ["   7  x", "=" * 10, ""]))
    return raw / "gdb9.sdf"


def main() -> None:
    import torch

    from biomatrix_plugin.corpus.records import iter_records, parse_record
    from biomatrix_plugin.mol3d.checkpoint import require_checkpoint
    from biomatrix_plugin.tasks.converters import Context, PrepareContext
    from biomatrix_plugin.tasks.sources.qm9 import convert_qm9, prepare_qm9

    try:
        require_checkpoint()
    except Exception as exc:  # no checkpoint: nothing to measure (one line, as the other benches)
        print(json.dumps({"bench": "tasks_qm9", "skipped": str(exc)}))
        return
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        sdf = write_raw(Path(tmp), N_RECORDS)
        options = {"property": "homo", "train_half": "all", "train_size": N_RECORDS - 60, "test_fraction": 0.05}
        start = time.process_time()
        prepared = prepare_qm9(PrepareContext("qm9_conditional_homo", {}, Path(tmp), options, {"train": [sdf]}))
        prepare_s = time.process_time() - start
        ctx = Context("qm9_conditional_homo", "number", "mol3d", None, "train", options, prepared=prepared)
        records = [parse_record(r.raw, "sdf") for r in iter_records([str(sdf)], "sdf")]
        for fields in records[:5]:  # warm-up: the checkpoint load and the csv read happen once per worker
            _safe(convert_qm9, fields, ctx)
        converted = rejected = 0
        start = time.process_time()
        for fields in records:
            if _safe(convert_qm9, fields, ctx):
                converted += 1
            else:
                rejected += 1
        seconds = time.process_time() - start
    rate = converted / seconds
    print(json.dumps({"bench": "tasks_qm9", "metric": "qm9_conditional_rows_per_s_per_core",
                      "value": round(rate, 1), "target": TARGET, "met": rate >= TARGET,
                      "records_per_s": round(len(records) / seconds, 1), "rows": converted, "rejected": rejected,
                      "prepare_s": round(prepare_s, 3)}))


def _safe(convert, fields, ctx) -> bool:
    from biomatrix_plugin.corpus.records import RecordRejected
    from biomatrix_plugin.tasks.converters import OtherSubtask

    try:
        return bool(convert(fields, ctx))
    except (RecordRejected, OtherSubtask):  # a reject, or a molecule of another split (routed)
        return False


if __name__ == "__main__":
    main()
