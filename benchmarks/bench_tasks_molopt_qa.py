"""Converter throughput of the MolOpt-Instructions and MoleculeQA converters: rows/s on one core, on
synthetic rows in the published layout (alpaca instruction/input/output with the molecule inside the
instruction text; MoleculeQA question with Option A-D lines). Distinct molecules per row (no cache hits
across rows for the source molecule), RDKit parsing included. Prints one JSON line per converter."""

from __future__ import annotations

import json
import random
import time

from biomatrix_plugin.tasks.converters import Context
from biomatrix_plugin.tasks.sources.moleculeqa import convert_moleculeqa
from biomatrix_plugin.tasks.sources.molopt import convert_molopt

TARGET = 2000  # rows/s per core, the figure for the converters that parse with RDKit
N = 3000


def _molecules(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    cores = ["c1ccccc1", "c1ccncc1", "C1CCCCC1", "c1ccc2ccccc2c1", "C1CCNCC1"]
    groups = ["C", "CC", "O", "N", "C(Cl)", "C(F)", "C(=O)", "OC", "C(=O)N", "CCN"]
    out = []
    for i in range(n):
        chain = "C" * (1 + i % 7) + "".join(rng.choice(groups) for _ in range(2))
        out.append(f"{chain}{rng.choice(cores)}")
    return out


def _rate(fn, rows, ctx) -> float:
    start = time.process_time()
    for row in rows:
        fn(row, ctx)
    return len(rows) / max(time.process_time() - start, 1e-9)


def main() -> None:
    mols = _molecules(N)
    molopt_rows = [{"instruction": f"Can you make molecule {m} with more hydrogen bond acceptors? The output molecule "
                                   "should be similar to the input molecule.", "input": "",
                    "output": f"Sure, here is one: {m}O"} for m in mols]
    ctx = Context("molopt_acceptor", "molecule", "molecule", None, "train", {"subtask": "acceptor+"})
    rate = _rate(convert_molopt, molopt_rows, ctx)
    print(json.dumps({"bench": "tasks_molopt_converter", "rows_per_s_per_core": round(rate, 1), "target": TARGET,
                      "met": rate >= TARGET, "rows": N}))
    qa_rows = [{"qid": i, "category": "Structure", "smiles": [m], "answer": "B",
                "question": "Which kind of compound is this molecule? Option A: an alkane Option B: an arene "
                            "Option C: a sugar Option D: a lipid"} for i, m in enumerate(mols)]
    ctx = Context("moleculeqa_structure", "fields", "label", {k: k for k in "ABCD"}, "train",
                  {"category": "Structure"}, input_fields={"molecule": "molecule", "question": "text"})
    rate = _rate(convert_moleculeqa, qa_rows, ctx)
    print(json.dumps({"bench": "tasks_moleculeqa_converter", "rows_per_s_per_core": round(rate, 1),
                      "target": TARGET, "met": rate >= TARGET, "rows": N}))


if __name__ == "__main__":
    main()
