"""``biomatrix data build --format parquet``: the same instances as JSONL, resumable, byte-identical reruns."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import biomatrix_plugin.corpus.build as build_mod
from biomatrix_plugin.corpus.build import BuildConfigError, BuildInterrupted, build_card, needs_mol3d_checkpoint
from biomatrix_plugin.corpus.registry import load_card, validate_dataset_info
from conftest import molstructok_checkpoint_path

CARDS = Path(__file__).resolve().parent / "cards"


def card(name: str):
    """A fixture card; a test of one that runs MolStrucTok skips (naming why) where its checkpoint is absent."""
    loaded = load_card(CARDS / f"{name}.yaml")
    if needs_mol3d_checkpoint(loaded.data):
        molstructok_checkpoint_path()
    return loaded


def parquet_texts(out: Path, name: str) -> list[str]:
    return [t for p in sorted((out / name).glob("*.parquet")) for t in pq.read_table(p)["text"].to_pylist()]


def file_bytes(out: Path, name: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / name).iterdir())}


def test_parquet_holds_the_same_instances_as_jsonl(tmp_path):
    pq_manifest = build_card(card("fx_pubchem_sdf"), tmp_path / "pq", n_shards=3, progress=False,
                             output_format="parquet")
    build_card(card("fx_pubchem_sdf"), tmp_path / "js", n_shards=3, progress=False)
    jsonl = [json.loads(l)["text"] for p in sorted((tmp_path / "js" / "fx_pubchem_sdf").glob("*.jsonl"))
             for l in p.read_text().splitlines()]
    assert parquet_texts(tmp_path / "pq", "fx_pubchem_sdf") == jsonl and len(jsonl) == 10
    # the dataset folder holds only parquet files (LLaMA-Factory reads one file type per folder)
    assert {p.suffix for p in (tmp_path / "pq" / "fx_pubchem_sdf").iterdir()} == {".parquet"}
    assert not list((tmp_path / "pq" / "_build" / "fx_pubchem_sdf").glob("part-*.jsonl"))  # staging removed
    info = json.loads((tmp_path / "pq" / "dataset_info.json").read_text())
    errors, warnings = validate_dataset_info(info, tmp_path / "pq", require_files=True)
    assert errors == [] and warnings == []
    assert pq_manifest["output_format"] == "parquet"
    for s in pq_manifest["shards"]:
        path = tmp_path / "pq" / "fx_pubchem_sdf" / s["file"]
        assert s["written"] == pq.read_metadata(path).num_rows and s["bytes"] == path.stat().st_size
    rejects = (tmp_path / "pq" / "_build" / "fx_pubchem_sdf" / "rejects.jsonl").read_text().splitlines()
    assert sorted(r["position"] for r in map(json.loads, rejects)) == [10, 11, 12]


def test_two_parquet_builds_are_byte_identical_and_a_rerun_changes_nothing(tmp_path):
    a = build_card(card("fx_uniprot"), tmp_path / "a", n_shards=2, progress=False, output_format="parquet")
    b = build_card(card("fx_uniprot"), tmp_path / "b", n_shards=2, progress=False, output_format="parquet")
    assert file_bytes(tmp_path / "a", "fx_uniprot") == file_bytes(tmp_path / "b", "fx_uniprot")
    again = build_card(card("fx_uniprot"), tmp_path / "a", n_shards=2, progress=False, output_format="parquet")
    assert [s["sha256"] for s in again["shards"]] == [s["sha256"] for s in a["shards"]] == \
        [s["sha256"] for s in b["shards"]]


@pytest.mark.parametrize("checkpoint_every,stop_after", [(1, 2), (3, 5)])
def test_a_killed_parquet_build_resumes_to_byte_identical_output(tmp_path, checkpoint_every, stop_after):
    build_card(card("fx_pubchem_sdf"), tmp_path / "clean", n_shards=2, progress=False, output_format="parquet")
    out = tmp_path / "resumed"
    with pytest.raises(BuildInterrupted):
        build_card(card("fx_pubchem_sdf"), out, n_shards=2, checkpoint_every=checkpoint_every, progress=False,
                   stop_after=stop_after, output_format="parquet")
    assert not list((out / "fx_pubchem_sdf").glob("*.parquet"))  # nothing half-done in the dataset folder
    build_card(card("fx_pubchem_sdf"), out, n_shards=2, checkpoint_every=checkpoint_every, progress=False,
               output_format="parquet")
    assert file_bytes(out, "fx_pubchem_sdf") == file_bytes(tmp_path / "clean", "fx_pubchem_sdf")


def test_a_kill_during_conversion_is_redone_identically(tmp_path, monkeypatch):
    build_card(card("fx_text"), tmp_path / "clean", n_shards=2, progress=False, output_format="parquet")
    real = build_mod._convert_to_parquet
    calls = []

    def dies_on_second_shard(task, state):
        calls.append(task.shard)
        if task.shard == 1:
            raise KeyboardInterrupt("killed while converting")
        real(task, state)

    monkeypatch.setattr(build_mod, "_convert_to_parquet", dies_on_second_shard)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        build_card(card("fx_text"), out, n_shards=2, progress=False, output_format="parquet")
    state = json.loads((out / "_build" / "fx_text" / "state-00001.json").read_text())
    assert state["done"] and not state.get("converted")
    monkeypatch.setattr(build_mod, "_convert_to_parquet", real)
    build_card(card("fx_text"), out, n_shards=2, progress=False, output_format="parquet")
    assert file_bytes(out, "fx_text") == file_bytes(tmp_path / "clean", "fx_text")


def test_jsonl_and_parquet_builds_never_mix_and_stats_read_parquet(tmp_path, capsys):
    from biomatrix_plugin.cli import main
    from biomatrix_plugin.corpus.stats import compute_stats

    out = tmp_path / "out"
    build_card(card("fx_text"), out, n_shards=2, progress=False)
    with pytest.raises(BuildConfigError):
        build_card(card("fx_text"), out, n_shards=2, progress=False, output_format="parquet")
    jsonl_stats = compute_stats(out)["datasets"]["fx_text"]
    assert main(["data", "build", str(CARDS / "fx_text.yaml"), "--out", str(tmp_path / "pq"), "--shards", "2",
                 "--format", "parquet", "--no-progress"]) == 0
    assert "3 instances written, 3 rejected" in capsys.readouterr().out
    parquet_stats = compute_stats(tmp_path / "pq")["datasets"]["fx_text"]
    assert parquet_stats == jsonl_stats and parquet_stats["instances"] == 3
