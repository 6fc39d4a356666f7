"""Run the same shard function on Ray Data: one Ray task per shard (``pip install biomatrix-plugin[ray]``).

On a cluster, ``ray.init(address="auto")`` connects to it (``RAY_ADDRESS`` also works); ``--out`` and the
input files must then be on a filesystem every node sees (NFS, Lustre, a FUSE-mounted bucket). Shards are
independent and write their own files, so the output equals the single-process build byte for byte.
"""

from __future__ import annotations

import time
from pathlib import Path

from biomatrix_plugin.corpus.build import plan_build, run_shard, write_manifest


def _ray_shard(row: dict) -> dict:
    # Ray Data rows are dicts; the task travels as its plain fields
    from biomatrix_plugin.corpus.build import ShardTask

    task = ShardTask(**row["task"])
    summary = run_shard(task)
    return {"summary": summary}


def build_card_with_ray(card, out_dir: str | Path, data_root: str | Path | None = None, n_shards: int = 1,
                        workers: int | None = None, checkpoint_every: int = 1000, force: bool = False,
                        address: str | None = None, output_format: str = "jsonl") -> dict:
    try:
        import ray
    except ImportError as exc:
        raise ImportError("the Ray engine needs `pip install 'ray[data]'` (extra: biomatrix-plugin[ray])") from exc
    import dataclasses

    start = time.time()
    plan = plan_build(card, out_dir, data_root, n_shards, checkpoint_every, force, output_format=output_format)
    started_here = False
    if not ray.is_initialized():
        import os

        # an existing cluster (address or RAY_ADDRESS) brings its own CPUs; num_cpus only sizes a local one
        if address or os.environ.get("RAY_ADDRESS"):
            kwargs = {"address": address} if address else {}
        else:
            kwargs = {"num_cpus": workers} if workers else {}
        ray.init(ignore_reinit_error=True, include_dashboard=False, log_to_driver=False, **kwargs)
        started_here = True
    try:
        items = [{"task": dataclasses.asdict(t)} for t in plan.tasks]
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        rows = ds.map(_ray_shard, num_cpus=1).take_all()
    finally:
        if started_here:
            ray.shutdown()
    summaries = [r["summary"] for r in rows]
    return write_manifest(plan, summaries, "ray", time.time() - start)
