"""The Ray Data engine runs the same shard function, one task per shard; its output must equal the
single-process build byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from biomatrix_plugin.corpus.build import build_card, needs_mol3d_checkpoint
from biomatrix_plugin.corpus.registry import load_card
from conftest import molstructok_checkpoint_path

CARDS = Path(__file__).resolve().parent / "cards"


@pytest.mark.slow
def test_ray_engine_output_equals_single_process_output(tmp_path):
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'biomatrix-plugin[ray]'")
    pytest.importorskip("ray.data", reason="the Ray engine needs ray[data]")
    import ray

    from biomatrix_plugin.corpus.ray_engine import build_card_with_ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)  # one local cluster for both cards
    try:
        _compare(tmp_path, build_card_with_ray)
    finally:
        ray.shutdown()


def _compare(tmp_path: Path, build_card_with_ray) -> None:
    for name in ("fx_pubchem_sdf", "fx_uniprot"):
        card = load_card(CARDS / f"{name}.yaml")
        if needs_mol3d_checkpoint(card.data):
            molstructok_checkpoint_path()
        local = build_card(card, tmp_path / "local", n_shards=3, progress=False)
        ray_m = build_card_with_ray(card, tmp_path / "ray", n_shards=3, workers=2)
        assert ray_m["engine"] == "ray"
        assert [s["sha256"] for s in ray_m["shards"]] == [s["sha256"] for s in local["shards"]]
        for part in sorted((tmp_path / "local" / name).glob("*.jsonl")):
            assert part.read_bytes() == (tmp_path / "ray" / name / part.name).read_bytes()
        assert (tmp_path / "ray" / "_build" / name / "rejects.jsonl").read_bytes() == \
            (tmp_path / "local" / "_build" / name / "rejects.jsonl").read_bytes()
    # parquet output goes through the same shard function on Ray (and the 3D complex builder with it)
    for name in ("fx_ppiref", "fx_pubchem_sdf"):
        card = load_card(CARDS / f"{name}.yaml")
        if needs_mol3d_checkpoint(card.data):
            molstructok_checkpoint_path()
        local = build_card(card, tmp_path / "local_pq", n_shards=2, progress=False, output_format="parquet")
        ray_m = build_card_with_ray(card, tmp_path / "ray_pq", n_shards=2, workers=2, output_format="parquet")
        assert [s["sha256"] for s in ray_m["shards"]] == [s["sha256"] for s in local["shards"]]
        assert [s["file"] for s in ray_m["shards"]] == [f"part-0000{k}-of-00002.parquet" for k in range(2)]
