"""Converter throughput of the unconditional-generation sources (MOSES csv rows, GuacaMol ``.smiles`` lines):
rows/s on one core (process CPU time), RDKit parsing included, each molecule seen once (no cache hit).

Molecules: the first distinct molecules of MOSES ``test.csv.gz`` from the installed ``molsets`` wheel (drug-like
ZINC molecules as the task reads them), or RDKit's bundled NCI set when molsets is absent. Rows are written
in the published layouts (``{"SMILES": ...}`` as the csv reader yields them; ``{"smiles": ..., "name": None}``
as the smi reader yields a GuacaMol line). Two figures per source:

- convert: the converter alone (RDKit parse + canonical SMILES of the one molecule);
- convert+render: what the build does per record besides file I/O: the converter, then the train row of
  both variants (SELFIES encoding, wrapping, prompt choice), i.e. one record -> two output lines (rows/s
  counts records; output_lines_per_s_per_core counts lines, bench_tasks.py's unit).

Prints one JSON line per source and figure with the measured rows/s, the target (>= 2,000 rows/s per core,
the figure the issue asks of the other molecule converters) and the RDKit floor (parse + canonical SMILES
only), plus the estimated single-core time of a full MOSES train build (1,584,663 records).
Run: ``python benchmarks/bench_tasks_unconditional.py`` (< 1 minute on one core).
"""

from __future__ import annotations

import gzip
import json
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TARGET = 2000.0
N = 3000  # distinct molecules per measured pass
MOSES_TRAIN_ROWS = 1_584_663


def _molecules(n: int) -> tuple[list[str], str]:
    from biomatrix_plugin.tasks.build import package_root
    from biomatrix_plugin.tasks.registry import TaskRegistry

    folder = package_root(TaskRegistry().get("moses_unconditional"))
    if folder is not None:
        with gzip.open(folder / "moses" / "dataset" / "data" / "test.csv.gz", "rt", encoding="utf-8") as fh:
            next(fh)
            out = list(dict.fromkeys(line.strip() for _, line in zip(range(3 * n), fh)))
        return out[: 3 * n], "MOSES test.csv.gz (molsets wheel)"
    from biomatrix_plugin.demo.data import nci_smiles_path

    lines = [line.split()[0] for line in nci_smiles_path().read_text().splitlines() if line.strip()]
    return list(dict.fromkeys(s for s in lines if "." not in s))[: 3 * n], "RDKit NCI set"


def _rdkit_floor(molecules: list[str]) -> float:
    from rdkit import Chem

    from biomatrix_plugin.io import quiet_rdkit

    start = time.process_time()
    with quiet_rdkit():
        for smiles in molecules:
            Chem.MolToSmiles(Chem.MolFromSmiles(smiles))
    return len(molecules) / max(time.process_time() - start, 1e-9)


def _rate(convert, rows, ctx, spec=None) -> float:
    from biomatrix_plugin.corpus.records import RecordRejected
    from biomatrix_plugin.tasks.render import choose_prompt, render

    rng = random.Random(0)
    start = time.process_time()
    for row in rows:
        try:
            examples = convert(row, ctx)
            if spec is not None:
                for example in examples:
                    index = choose_prompt(spec, rng, "train", "first")
                    for variant in spec.variants:
                        render(spec, example, variant, index, "train")
        except RecordRejected:
            pass
    return len(rows) / max(time.process_time() - start, 1e-9)


def main() -> None:
    from biomatrix_plugin.tasks.converters import CONVERTERS, Context
    from biomatrix_plugin.tasks.registry import TaskRegistry
    from biomatrix_plugin.tasks.render import RenderSpec

    mols, origin = _molecules(N)
    if len(mols) < 3 * N:
        raise SystemExit(f"only {len(mols)} distinct molecules; lower N")
    chunks = [mols[i * N:(i + 1) * N] for i in range(3)]
    floor = _rdkit_floor(chunks[0])
    results = []
    for source, converter, layout, chunk in (
            ("moses_unconditional", "moses_csv", lambda s: {"SMILES": s}, chunks[1]),
            ("guacamol_unconditional", "guacamol_smiles", lambda s: {"smiles": s, "name": None}, chunks[2])):
        task = TaskRegistry().get(source)
        ctx = Context(source, "none", "molecule", None, "train", task["source"].get("options") or {})
        spec = RenderSpec.from_task_data(source, task.data)
        rows = [layout(s) for s in chunk]
        half = len(rows) // 2  # fresh molecules for each figure (the entity caches would hide the work)
        convert = CONVERTERS[converter].function
        for figure, part, with_render in (("convert", rows[:half], None), ("convert+render", rows[half:], spec)):
            rate = _rate(convert, part, ctx, with_render)
            line = {"bench": f"tasks_unconditional/{source}", "figure": figure, "rows_per_s_per_core": round(rate),
                    "target": TARGET, "met": rate >= TARGET, "rdkit_floor_rows_per_s": round(floor),
                    "molecules": origin, "rows": len(part)}
            if figure == "convert+render":
                line["output_lines_per_record"] = len(spec.variants)
                line["output_lines_per_s_per_core"] = round(rate * len(spec.variants))
                if source == "moses_unconditional":
                    line["moses_train_full_build_minutes_one_core_est"] = round(MOSES_TRAIN_ROWS / rate / 60, 1)
            results.append(line)
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
