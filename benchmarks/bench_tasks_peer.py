"""Interaction task converters, rows/s per core (issue 13). Run: ``python benchmarks/bench_tasks_peer.py``.

1. PEER, sequence only (Yeast/Human PPI shape): a synthetic LMDB split in the published layout (pickled dicts,
   size-1 numpy labels), 400-residue proteins; timed: the ``lmdb`` reader (safe unpickling), the ``peer``
   converter and rendering of the row (CPU time of this process, one core). Target >= 10,000 rows/s.
2. PEER protein-ligand (BindingDB shape): the same with a SMILES from a pool of RDKit's NCI molecules, both
   notations rendered (RDKit canonicalisation cached per distinct SMILES, as in a real build).
3. PDBbind 3D with precomputed codes: the ``pdbbind2020_3d`` converter on the fixture complexes (SDF read,
   MolStrucTok encode on CPU, pocket chains extracted, codes looked up), needs the MolStrucTok checkpoint.

Prints one JSON line per measurement with the figure and the target.
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
TARGET = 10000.0
AMINO = "ACDEFGHIKLMNPQRSTVWY"


def _spec(task_id: str):
    from biomatrix_plugin.tasks.converters import Context
    from biomatrix_plugin.tasks.registry import TaskRegistry
    from biomatrix_plugin.tasks.render import RenderSpec

    task = TaskRegistry().get(task_id)
    fields = task["input"]["fields"]
    ctx = Context(task_id, "fields", task["response"]["kind"], task["response"].get("labels"), "train",
                  task["source"].get("options") or {}, input_fields=dict(fields), response=dict(task["response"]))
    return task, ctx, RenderSpec.from_task_data(task_id, task.data)


def _time_lmdb(task_id: str, records: list, variants: tuple[str, ...]) -> dict:
    from biomatrix_plugin.corpus.lmdb_records import iter_lmdb, write_lmdb
    from biomatrix_plugin.corpus.records import parse_record
    from biomatrix_plugin.tasks.converters import CONVERTERS
    from biomatrix_plugin.tasks.render import render

    task, ctx, spec = _spec(task_id)
    convert = CONVERTERS[task["source"]["converter"]].function
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "split.lmdb"
        write_lmdb(path, records, protocol=4)
        start = time.process_time()
        rows = 0
        for raw in iter_lmdb(str(path / "data.mdb")):
            for example in convert(parse_record(raw, "lmdb"), ctx):
                for variant in variants:
                    render(spec, example, variant, 0, "train")
                    rows += 1
        seconds = time.process_time() - start
    return {"rows": rows, "records": len(records), "cpu_seconds": round(seconds, 3),
            "rows_per_s_per_core": round(rows / seconds, 1)}


def bench_ppi(n: int = 20000) -> dict:
    import numpy as np

    rng = random.Random(0)
    seqs = ["".join(rng.choice(AMINO) for _ in range(400)) for _ in range(200)]
    records = [{"primary_1": rng.choice(seqs), "primary_2": rng.choice(seqs), "interaction": np.array([i % 2])}
               for i in range(n)]
    out = _time_lmdb("peer_yeast_ppi", records, ("default",))
    return {"bench": "peer_ppi_sequence_only", **out, "target": TARGET,
            "met": out["rows_per_s_per_core"] >= TARGET}


def bench_ligand(n: int = 10000) -> dict:
    from rdkit import Chem, RDConfig

    rng = random.Random(1)
    path = Path(RDConfig.RDDataDir) / "NCI" / "first_200.props.sdf"
    pool = [Chem.MolToSmiles(m) for m in Chem.SDMolSupplier(str(path)) if m is not None][:150]
    seqs = ["".join(rng.choice(AMINO) for _ in range(400)) for _ in range(50)]
    records = [{"target": rng.choice(seqs), "drug": rng.choice(pool), "affinity": 5 + rng.random() * 5}
               for _ in range(n)]
    out = _time_lmdb("peer_bindingdb_affinity", records, ("smiles", "selfies"))
    return {"bench": "peer_bindingdb_protein_ligand", **out, "target": TARGET,
            "met": out["rows_per_s_per_core"] >= TARGET}


def bench_pdbbind(repeats: int = 10) -> dict:
    from biomatrix_plugin.errors import BioMatrixError
    from biomatrix_plugin.mol3d.checkpoint import require_checkpoint
    from biomatrix_plugin.tasks.converters import Context, PrepareContext
    from biomatrix_plugin.tasks.render import render
    from biomatrix_plugin.tasks.sources.pdbbind import convert_pdbbind, prepare_pdbbind

    try:
        require_checkpoint()
    except BioMatrixError as exc:
        return {"bench": "pdbbind2020_3d_precomputed_codes", "skipped": str(exc)}
    task, _, spec = _spec("pdbbind2020_affinity_3d")
    options = task["source"]["options"]
    raw = REPO / "tests" / "tasks" / "fixtures"
    prepared = prepare_pdbbind(PrepareContext(task.id, task.data, raw, options, {}))
    ctx = Context(task.id, "fields", "number", None, "train", options, input_fields=dict(task["input"]["fields"]),
                  prepared=prepared, response=dict(task["response"]))
    ids = ["1egf", "2egf", "3egf", "6tst", "7tst"]
    convert_pdbbind({"smiles": ids[0]}, ctx)  # model load, outside the timing
    start = time.process_time()
    rows = 0
    for _ in range(repeats):
        for pdb in ids:
            for example in convert_pdbbind({"smiles": pdb}, ctx):
                render(spec, example, "default", 0, "train")
                rows += 1
    seconds = time.process_time() - start
    return {"bench": "pdbbind2020_3d_precomputed_codes", "rows": rows, "cpu_seconds": round(seconds, 3),
            "rows_per_s_per_core": round(rows / seconds, 1),
            "note": "MolStrucTok encode on CPU dominates; pocket codes are looked up (precomputed)"}


def main() -> int:
    import torch

    torch.set_num_threads(1)  # per core
    results = [bench_ppi(), bench_ligand(), bench_pdbbind()]
    for r in results:
        print(json.dumps(r))
    return 0  # a missed target is reported ("met": false), not an error: make bench runs every bench


if __name__ == "__main__":
    sys.exit(main())
