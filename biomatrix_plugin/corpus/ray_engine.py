"""Run the same shard function on Ray Data: one Ray task per shard (``pip install biomatrix-plugin[ray]``).

On a cluster, ``ray.init(address="auto")`` connects to it (``RAY_ADDRESS`` also works); ``--out`` and the
input files must then be on a filesystem every node sees (NFS, Lustre, a FUSE-mounted bucket). Shards are
independent and write their own files, so the output equals the single-process build byte for byte. The
driver holds the output folder's lock (see :func:`.build.build_lock`) while the tasks run.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from biomatrix_plugin.corpus.build import BuildOptions, BuildPlan, ShardTask, build, run_shard
from biomatrix_plugin.errors import ConfigError


class RayMissingError(ConfigError, ImportError):
    """``--engine ray`` without Ray installed."""


def _ray_shard(row: dict) -> dict:
    # Ray Data rows are dicts; the task travels as its plain fields
    return {"summary": run_shard(ShardTask(**row["task"]))}


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401 - the engine needs ray[data]
    except ImportError as exc:
        raise RayMissingError("the Ray engine needs `pip install 'ray[data]'` (extra: biomatrix-plugin[ray])") from exc
    return ray


def _ray_runner(address: str | None):
    def run(plan: BuildPlan, options: BuildOptions) -> tuple[list[dict], str]:
        ray = _import_ray()
        started_here = False
        if not ray.is_initialized():
            # an existing cluster (address or RAY_ADDRESS) brings its own CPUs; num_cpus only sizes a local one
            if address or os.environ.get("RAY_ADDRESS"):
                kwargs: dict[str, Any] = {"address": address} if address else {}
            else:
                kwargs = {"num_cpus": options.workers} if options.workers else {}
            ray.init(ignore_reinit_error=True, include_dashboard=False, log_to_driver=False, **kwargs)
            started_here = True
        try:
            items = [{"task": dataclasses.asdict(t)} for t in plan.tasks]
            ds = ray.data.from_items(items, override_num_blocks=len(items))
            rows = ds.map(_ray_shard, num_cpus=1).take_all()
        finally:
            if started_here:
                ray.shutdown()
        return [r["summary"] for r in rows], "ray"

    return run


def build_card_with_ray(card, out_dir: str | Path, *, address: str | None = None, workers: int | None = None,
                        **settings: Any) -> dict:
    """Build one card with Ray; ``settings`` are :class:`.build.BuildOptions` fields (keywords only)."""
    _import_ray()  # before anything is locked or written
    options = BuildOptions(out_dir=out_dir, workers=workers, progress=False, **settings)
    return build(card, options, runner=_ray_runner(address))
