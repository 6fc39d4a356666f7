"""Task suite throughput (issue 11 §6). Run: ``python benchmarks/bench_tasks.py``.

1. ``tasks build`` on one core: a full build (the corpus engine with one in-process worker: converter,
   RDKit canonicalisation, SELFIES, prompt rendering, shard files, checkpoints, routing to the variant files,
   manifest) of SMolInstruct-style raw files in the published layout, both notations (smiles + selfies), CPU
   time of the building process. Two row shapes, from RDKit's bundled NCI molecules:
   - S2F: one molecule per record, every molecule distinct (the worst case for the component cache);
   - forward synthesis: two distinct reactants, one distinct product and 1-3 reagents from a pool of 20.
   Baselines in the same run, on the same molecules: plain RDKit canonicalisation (parse + canonical SMILES:
   the floor no converter can go under) and canonicalisation + ``selfies.encoder`` (what both notations cost
   at least). Target: >= 2,000 rows/s per core; a row is one output line (one record in one notation), and
   the per-record rate is printed beside it.
2. Eval scoring: a cached ``eval run`` rerun (every generation in the cache, no backend: test rows read,
   prompt keys hashed, read-out, the task's metrics, results and predictions written) over a few thousand
   rows, against the task's metrics computed alone on the already read-out answers (the registry's
   ``compute``, the cost no runner can avoid).

Finishes in < 2 minutes on 2 cores.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TARGET = 2000.0
N_TRAIN = 1500  # raw records per train file
N_TEST = 1000  # raw records per test file (the eval rerun scores these, in both notations)
REAGENTS = 20


def nci_smiles() -> list[str]:
    """NCI molecules both notations can write (one component, <= 60 atoms, SELFIES-encodable), so the
    build rejects nothing and every record costs the full conversion."""
    import selfies
    from rdkit import Chem

    from biomatrix_plugin.demo.data import nci_smiles_path
    from biomatrix_plugin.io import quiet_rdkit

    out = []
    with quiet_rdkit():
        for line in nci_smiles_path().read_text().splitlines():
            smi = line.split()[0] if line.strip() else ""
            mol = Chem.MolFromSmiles(smi) if smi and "." not in smi else None
            if mol is None or mol.GetNumAtoms() > 60:
                continue
            try:
                selfies.encoder(Chem.MolToSmiles(mol))
            except selfies.EncoderError:
                continue
            out.append(smi)
    return out


def formula(smi: str) -> str:
    from rdkit import Chem
    from rdkit.Chem import rdMolDescriptors

    return rdMolDescriptors.CalcMolFormula(Chem.MolFromSmiles(smi))


def write_raw(root: Path, mols: list[str]) -> dict[str, list[str]]:
    """SMolInstruct's layout: raw/{train,test}/<task>.jsonl; returns the molecules each task's records use."""
    rng = random.Random(0)
    pool = mols[:REAGENTS]
    rest = mols[REAGENTS:]
    s2f_mols = rest[:N_TRAIN + N_TEST]
    fs = rest[len(s2f_mols):]
    used = {"s2f": list(s2f_mols), "fs": list(pool)}
    for split, lo, n in (("train", 0, N_TRAIN), ("test", N_TRAIN, N_TEST)):
        folder = root / "smolinstruct" / "raw" / split
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "name_conversion-s2f.jsonl", "w") as fh:
            for smi in s2f_mols[lo:lo + n]:
                fh.write(json.dumps({"input": smi, "output": formula(smi), "task": "name_conversion-s2f",
                                     "split": split}) + "\n")
        with open(folder / "forward_synthesis.jsonl", "w") as fh:
            for i in range(n):
                a, b, product = (fs[(3 * (lo + i) + k) % len(fs)] for k in range(3))
                reagents = rng.sample(pool, rng.randint(1, 3))
                used["fs"] += [a, b, product]
                fh.write(json.dumps({"input": ".".join([a, b, *reagents]), "output": product,
                                     "task": "forward_synthesis", "split": split}) + "\n")
    return used


def cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def baselines(mols: list[str]) -> tuple[float, float, float]:
    """(canonicalisation/s, canonicalisation + selfies.encoder/s, canonicalisation + the byte-identical
    modalities.selfies_fast encoder/s) on one core, over ``mols``."""
    import selfies
    from rdkit import Chem

    from biomatrix_plugin.io import quiet_rdkit
    from biomatrix_plugin.modalities.selfies_fast import encoder as fast_encoder

    with quiet_rdkit():
        start = cpu()
        canon = [Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in mols]
        t_canon = cpu() - start
        start = cpu()
        for s in mols:
            selfies.encoder(Chem.MolToSmiles(Chem.MolFromSmiles(s)))
        t_both = cpu() - start
        start = cpu()
        for s in mols:
            c = Chem.MolToSmiles(Chem.MolFromSmiles(s))
            if fast_encoder(c) is None:
                selfies.encoder(c)
        t_fast = cpu() - start
    assert len(canon) == len(mols)
    return len(mols) / t_canon, len(mols) / t_both, len(mols) / t_fast


def bench_build(raw: Path, out: Path, task_ids: list[str]) -> dict[str, dict]:
    from biomatrix_plugin.tasks.build import BuildOptions, build_task
    from biomatrix_plugin.tasks.registry import TaskRegistry

    registry = TaskRegistry()
    found = {}
    for task_id in task_ids:
        task = registry.get(task_id)
        opts = BuildOptions(raw_root=raw, out_dir=out, workers=1, shards=1, progress=False)
        start_cpu, start_wall = cpu(), time.perf_counter()
        manifest = build_task(task, opts)
        seconds_cpu, seconds_wall = cpu() - start_cpu, time.perf_counter() - start_wall
        records = sum(v["converted"] for v in manifest["records"].values())
        rejected = sum(v["rejected"] for v in manifest["records"].values())
        rows = sum(c["rows"] for c in manifest["rows"]["train"].values()) + \
            sum(len((out / task_id / v / "test.jsonl").read_text().splitlines()) for v in manifest["variants"])
        found[task_id] = {"records": records, "rejected": rejected, "rows": rows, "cpu": seconds_cpu,
                          "wall": seconds_wall}
    return found


class Oracle:
    """Answers every test prompt with its gold (so the rerun scores real answers); the rerun never calls it."""

    def __init__(self, data: Path, task_ids: list[str]):
        self.answers = {}
        for task_id in task_ids:
            for path in (data / task_id).glob("*/test.jsonl"):
                for line in path.read_text().splitlines():
                    row = json.loads(line)
                    content = row["instruction"] if not row["input"] else f"{row['instruction']}\n{row['input']}"
                    self.answers[content] = f"The answer is {row['answer']}."

    def generate(self, prompts, config):
        from biomatrix_plugin.eval.generation import Generation

        return [Generation([self.answers[m[-1]["content"]]]) for m in prompts]


def metrics_alone(out: Path, data: Path, task_ids: list[str]) -> dict[str, float]:
    """CPU seconds per task of the task's metrics alone, on the answers the rerun read out."""
    import gzip

    from biomatrix_plugin.eval.registry import compute, get_metric
    from biomatrix_plugin.eval.run import _metric_inputs, metric_options
    from biomatrix_plugin.io import quiet_rdkit
    from biomatrix_plugin.tasks.registry import TaskRegistry

    registry = TaskRegistry()
    found = {}
    for task_id in task_ids:
        task = registry.get(task_id)
        total = 0.0
        for variant in task.variants:
            with gzip.open(out / task_id / variant / "predictions.jsonl.gz", "rt") as fh:
                preds = [json.loads(line) for line in fh]
            rows = [{"references": p["references"]} for p in preds]
            answers = [p["answers"][0] for p in preds]
            start = cpu()
            with quiet_rdkit():
                for metric in task["eval"]["metrics"]:
                    spec = get_metric(metric["name"])
                    p, r = _metric_inputs(spec, metric["name"], answers, answers, rows)
                    compute(metric["name"], p, r, None, **metric_options(metric, variant))
            total += cpu() - start
        found[task_id] = total
    return found


def bench_eval(data: Path, out: Path, task_ids: list[str]) -> dict[str, dict]:
    from biomatrix_plugin.eval.run import RunOptions, run_eval
    from biomatrix_plugin.tasks.registry import TaskRegistry

    registry = TaskRegistry()
    model = out.parent / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "qwen3"}\n')
    tasks = [registry.get(t) for t in task_ids]
    opts = RunOptions(model=model, data_dir=data, out_dir=out, backend="oracle", batch_size=512)
    run_eval(tasks, opts, backend_factory=lambda: Oracle(data, task_ids))  # fills the cache

    def refuse():
        raise AssertionError("the rerun must be served from the cache")

    found = {}
    for task in tasks:
        start = cpu()
        summaries = run_eval([task], opts, backend_factory=refuse)
        seconds = cpu() - start
        assert all(s["generated"] == 0 for s in summaries)
        rows = sum(s["rows"] for s in summaries)
        found[task.id] = {"rows": rows, "cpu": seconds,
                          "metrics": {f"{s['variant']}": s["metrics"] for s in summaries}}
    alone = metrics_alone(out, data, task_ids)
    for task_id, value in alone.items():
        found[task_id]["metrics_cpu"] = value
    return found


def main() -> int:
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="bench_tasks_"))
    mols = nci_smiles()
    used = write_raw(tmp / "raw", mols)
    task_ids = ["smolinstruct_s2f", "smolinstruct_forward_synthesis"]
    print(f"inputs: {N_TRAIN} train + {N_TEST} test raw records per task, NCI molecules, both notations")
    build = bench_build(tmp / "raw", tmp / "built", task_ids)
    print("\n1. tasks build, one in-process worker (CPU time of the building process)")
    print(f"{'task':<32}{'records':>8}{'rows':>8}{'CPU s':>8}{'records/s':>11}{'rows/s':>9}  vs baselines")
    for task_id, key in zip(task_ids, ("s2f", "fs")):
        b = build[task_id]
        distinct = list(dict.fromkeys(used[key]))
        canon, both, fast = baselines(distinct)
        # the build canonicalises each distinct component once (its per-process cache): the floor is the
        # baseline's time for the distinct molecules of this task, per record
        per_record = len(distinct) / b["records"]
        print(f"    {len(used[key])} components in {b['records']} records, {len(distinct)} distinct")
        rec_rate, row_rate = b["records"] / b["cpu"], b["rows"] / b["cpu"]
        floor = canon / per_record
        print(f"{task_id:<32}{b['records']:>8}{b['rows']:>8}{b['cpu']:>8.2f}{rec_rate:>11.0f}{row_rate:>9.0f}"
              f"  RDKit canonicalisation alone {floor:.0f} records/s (build = {rec_rate / floor:.2f}x of it), "
              f"+ SELFIES {both / per_record:.0f} records/s ({rec_rate / (both / per_record):.2f}x), "
              f"+ selfies_fast {fast / per_record:.0f} records/s")
        verdict = "MET" if row_rate >= TARGET else "NOT MET"
        verdict_rec = "MET" if rec_rate >= TARGET else "NOT MET"
        print(f"    target >= {TARGET:,.0f} rows/s/core: {row_rate:,.0f} rows/s -> {verdict}; "
              f"per record (both notations): {rec_rate:,.0f}/s -> {verdict_rec}; rejected {b['rejected']}")
    print("\n2. eval scoring: cached `eval run` rerun (no backend) vs the task's metrics alone (CPU time)")
    ev = bench_eval(tmp / "built", tmp / "eval", task_ids)
    for task_id in task_ids:
        e = ev[task_id]
        rate, alone = e["rows"] / e["cpu"], e["rows"] / e["metrics_cpu"]
        print(f"{task_id:<32} {e['rows']} rows: rerun {rate:,.0f} rows/s, metrics alone {alone:,.0f} rows/s "
              f"(rerun = {rate / alone:.2f}x of the metrics' own rate); scores {e['metrics']}")
    print(f"\ntotal {time.perf_counter() - t0:.1f} s wall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
