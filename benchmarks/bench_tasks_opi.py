"""OPI converter throughput: rows/s per core on synthetic sequence-only rows in the published layout (a train
JSON array of {instruction, input, output} with a 300-residue sequence and a 3-label EC set), converted and
rendered (prompt, wrapped protein, '; '-joined answer) as `tasks build` does per record. Prints one JSON line
with the measured figure and the target (>= 10,000 rows/s per core for sequence-only rows)."""

from __future__ import annotations

import json
import random
import time

from biomatrix_plugin.tasks.converters import Context
from biomatrix_plugin.tasks.registry import TaskRegistry
from biomatrix_plugin.tasks.render import RenderSpec, choose_prompt, render
from biomatrix_plugin.tasks.sources.opi import convert_opi

TARGET = 10_000
AA = "ACDEFGHIKLMNPQRSTVWY"


def synthetic_rows(n: int, length: int = 300, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [{"instruction": "What is the EC classification of the input protein sequence?",
             "input": "".join(rng.choice(AA) for _ in range(length)),
             "output": " ; ".join(f"{rng.randint(1, 7)}.{rng.randint(1, 20)}.{rng.randint(1, 30)}.{rng.randint(1, 99)}"
                                  for _ in range(3))} for _ in range(n)]


def main(n: int = 20_000) -> dict:
    task = TaskRegistry().get("opi_ec_new")
    spec = RenderSpec.from_task_data(task.id, task.data)
    ctx = Context(task.id, "protein", "label_set", None, "train", {}, response=dict(task["response"]))
    data = [json.dumps(r) for r in synthetic_rows(n)]
    rng = random.Random(1)
    start = time.process_time()
    for line in data:  # JSON decoding is part of a record's cost
        for example in convert_opi(json.loads(line), ctx):
            json.dumps(render(spec, example, "default", choose_prompt(spec, rng, "train", "first"), "train"),
                       ensure_ascii=False)
    cpu = time.process_time() - start
    rate = n / cpu
    result = {"bench": "tasks_opi", "rows": n, "residues_per_row": 300, "cpu_s": round(cpu, 3),
              "rows_per_s_per_core": round(rate), "target": TARGET, "met": rate >= TARGET}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
