"""The build runner: shards, rejects, manifest, resume after a kill, worker independence, statistics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from biomatrix_plugin.corpus.build import BuildConfigError, BuildInterrupted, build_card
from biomatrix_plugin.corpus.registry import load_card
from biomatrix_plugin.io import file_sha256
from conftest import corpus_fixture_card

CARDS = Path(__file__).resolve().parent / "cards"
ALL_CARDS = sorted(p.stem for p in CARDS.glob("*.yaml"))


card = corpus_fixture_card  # one helper for the corpus test modules (tests/conftest.py)


def shard_bytes(out: Path, name: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / name).glob("*.jsonl"))}


def test_build_writes_shards_rejects_and_manifest(tmp_path):
    out = tmp_path / "out"
    manifest = build_card(card("fx_pubchem_sdf"), out, n_shards=3, progress=False)
    assert manifest["totals"] == {**manifest["totals"], "records": 13, "written": 10, "rejected": 3}
    assert [s["records"] for s in manifest["shards"]] == [5, 4, 4]  # record g goes to shard g % 3
    for s in manifest["shards"]:
        path = out / "fx_pubchem_sdf" / s["file"]
        assert s["sha256"] == file_sha256(str(path))
        assert s["written"] == len(path.read_text().splitlines())
    src = CARDS.parent / "fixtures" / "pubchem_compounds.sdf"
    assert manifest["inputs"] == [{"file": src.name, "size": src.stat().st_size, "sha256": file_sha256(str(src))}]
    assert manifest["seed"] == 0 and manifest["code_version"]["builder_code_sha256"]
    rejects = [json.loads(l) for l in (out / "_build" / "fx_pubchem_sdf" / "rejects.jsonl").read_text().splitlines()]
    assert sorted(r["position"] for r in rejects) == [10, 11, 12]
    assert all(r["reason"] and r["source"] == src.name for r in rejects)
    # only training data in the dataset folder: LLaMA-Factory loads every file in it as one type
    assert {p.suffix for p in (out / "fx_pubchem_sdf").iterdir()} == {".jsonl"}
    info = json.loads((out / "dataset_info.json").read_text())
    assert info["fx_pubchem_sdf"] == {"file_name": "fx_pubchem_sdf", "columns": {"prompt": "text"}}


def test_every_fixture_card_builds_and_counts_add_up(tmp_path):
    out = tmp_path / "out"
    expected = {"fx_uniprot": (5, 4, 3), "fx_interleaved": (6, 2, 4), "fx_bindingdb": (6, 3, 3),
                "fx_uniref50": (5, 3, 2), "fx_text": (6, 3, 3), "fx_structures": (5, 6, 3)}
    for name in ALL_CARDS:
        m = build_card(card(name), out, n_shards=2, progress=False)
        t = m["totals"]
        rejects = (out / "_build" / name / "rejects.jsonl").read_text().splitlines()
        assert len(rejects) == t["rejected"], name
        lines = [l for p in (out / name).glob("*.jsonl") for l in p.read_text().splitlines()]
        assert len(lines) == t["written"], name
        assert all(json.loads(l)["text"].strip() for l in lines)
        if name in expected:
            assert (t["records"], t["written"], t["rejected"]) == expected[name], name


def test_instances_do_not_depend_on_the_shard_count(tmp_path):
    one = build_card(card("fx_pubchem_csv"), tmp_path / "one", n_shards=1, progress=False)
    four = build_card(card("fx_pubchem_csv"), tmp_path / "four", n_shards=4, progress=False)
    lines = lambda out: sorted(l for p in (out / "fx_pubchem_csv").glob("*.jsonl") for l in p.read_text().splitlines())
    assert lines(tmp_path / "one") == lines(tmp_path / "four")
    assert one["totals"]["written"] == four["totals"]["written"] == 6


@pytest.mark.slow
def test_process_pool_output_equals_single_process_output(tmp_path):
    build_card(card("fx_uniprot"), tmp_path / "a", n_shards=3, workers=1, progress=False)
    build_card(card("fx_uniprot"), tmp_path / "b", n_shards=3, workers=2, progress=False)
    assert shard_bytes(tmp_path / "a", "fx_uniprot") == shard_bytes(tmp_path / "b", "fx_uniprot")


@pytest.mark.parametrize("checkpoint_every,stop_after", [(1, 2), (3, 4), (2, 5)])
def test_a_killed_build_resumes_to_byte_identical_output(tmp_path, checkpoint_every, stop_after):
    clean = tmp_path / "clean"
    build_card(card("fx_pubchem_sdf"), clean, n_shards=2, progress=False)
    out = tmp_path / "resumed"
    with pytest.raises(BuildInterrupted):
        build_card(card("fx_pubchem_sdf"), out, n_shards=2, checkpoint_every=checkpoint_every,
                   progress=False, stop_after=stop_after)
    state = json.loads((out / "_build" / "fx_pubchem_sdf" / "state-00000.json").read_text())
    assert not state["done"] and state["consumed"] == (stop_after // checkpoint_every) * checkpoint_every
    manifest = build_card(card("fx_pubchem_sdf"), out, n_shards=2, checkpoint_every=checkpoint_every, progress=False)
    assert shard_bytes(out, "fx_pubchem_sdf") == shard_bytes(clean, "fx_pubchem_sdf")
    assert (out / "_build" / "fx_pubchem_sdf" / "rejects.jsonl").read_bytes() == \
        (clean / "_build" / "fx_pubchem_sdf" / "rejects.jsonl").read_bytes()
    assert manifest["totals"]["records"] == 13


@pytest.mark.parametrize("damage", ["delete", "cut"])
def test_resuming_a_shard_whose_output_was_deleted_or_cut_is_refused(tmp_path, damage):
    """Truncating a deleted (or shortened) file "back" to the checkpoint would pad it with NUL bytes."""
    clean = tmp_path / "clean"
    build_card(card("fx_pubchem_sdf"), clean, n_shards=2, progress=False)
    out = tmp_path / "out"
    with pytest.raises(BuildInterrupted):
        build_card(card("fx_pubchem_sdf"), out, n_shards=2, checkpoint_every=2, progress=False, stop_after=5)
    # an unfinished shard is staged under _build/; the dataset folder holds whole shards only
    assert not (out / "fx_pubchem_sdf" / "part-00000-of-00002.jsonl").exists()
    part = out / "_build" / "fx_pubchem_sdf" / "part-00000-of-00002.jsonl"
    state = json.loads((out / "_build" / "fx_pubchem_sdf" / "state-00000.json").read_text())
    assert state["data_bytes"] > 0 and part.stat().st_size >= state["data_bytes"]
    if damage == "delete":
        part.unlink()
    else:
        part.write_bytes(part.read_bytes()[: state["data_bytes"] - 10])
    with pytest.raises(BuildConfigError, match=r"'fx_pubchem_sdf' shard 0 of 2: .*part-00000-of-00002\.jsonl.*--force"):
        build_card(card("fx_pubchem_sdf"), out, n_shards=2, checkpoint_every=2, progress=False)
    assert not part.exists() or b"\0" not in part.read_bytes()
    # the way out the message names: drop that shard's checkpoint and it is rebuilt from its first record
    (out / "_build" / "fx_pubchem_sdf" / "state-00000.json").unlink()
    build_card(card("fx_pubchem_sdf"), out, n_shards=2, checkpoint_every=2, progress=False)
    assert shard_bytes(out, "fx_pubchem_sdf") == shard_bytes(clean, "fx_pubchem_sdf")


def test_a_finished_shard_whose_output_or_rejects_vanished_is_not_reported_as_built(tmp_path):
    out = tmp_path / "out"
    build_card(card("fx_pubchem_sdf"), out, n_shards=2, progress=False)
    rejects = out / "_build" / "fx_pubchem_sdf" / "rejects-00001.jsonl"
    assert rejects.stat().st_size > 0
    rejects.unlink()
    with pytest.raises(BuildConfigError, match=r"shard 1 of 2: .*rejects-00001\.jsonl"):
        build_card(card("fx_pubchem_sdf"), out, n_shards=2, progress=False)
    build_card(card("fx_pubchem_sdf"), out, n_shards=2, progress=False, force=True)
    (out / "fx_pubchem_sdf" / "part-00001-of-00002.jsonl").unlink()
    with pytest.raises(BuildConfigError, match=r"shard 1 of 2: .*part-00001-of-00002\.jsonl is missing"):
        build_card(card("fx_pubchem_sdf"), out, n_shards=2, progress=False)


def test_a_changed_card_does_not_silently_mix_with_an_old_build(tmp_path):
    out = tmp_path / "out"
    c = card("fx_text")
    build_card(c, out, n_shards=2, progress=False)
    c.data["seed"] = 5
    with pytest.raises(BuildConfigError, match="different settings"):
        build_card(c, out, n_shards=2, progress=False)
    with pytest.raises(BuildConfigError, match="another shard count"):
        build_card(card("fx_text"), out, n_shards=3, progress=False)
    assert build_card(c, out, n_shards=2, progress=False, force=True)["seed"] == 5


def test_a_changed_side_table_refuses_to_resume_without_force(tmp_path):
    """entity_table / chemical_table / structure_codes ... shape instances like inputs do: in the fingerprint."""
    import shutil

    import yaml

    from biomatrix_plugin.io import file_sha256

    data = tmp_path / "data"
    data.mkdir()
    for name in ("interleaved_docs.jsonl", "interleaved_entities.jsonl"):
        shutil.copy(CARDS.parent / "fixtures" / name, data / name)
    c = yaml.safe_load((CARDS / "fx_interleaved.yaml").read_text())
    c["input"]["path"] = "interleaved_docs.jsonl"
    c["builder"]["params"]["entity_table"] = "interleaved_entities.jsonl"
    (data / "card.yaml").write_text(yaml.safe_dump(c))
    out = tmp_path / "out"
    with pytest.raises(BuildInterrupted):
        build_card(load_card(data / "card.yaml"), out, n_shards=1, checkpoint_every=1, progress=False, stop_after=2)
    table = data / "interleaved_entities.jsonl"
    before = table.read_text()
    # aspirin's methyl ester
    table.write_text(before.replace('"CC(=O)OC1=CC=CC=C1C(=O)O"', '"CC(=O)OC1=CC=CC=C1C(=O)OC"'))
    assert table.read_text() != before
    with pytest.raises(BuildConfigError, match="different settings"):
        build_card(load_card(data / "card.yaml"), out, n_shards=1, checkpoint_every=1, progress=False)
    m = build_card(load_card(data / "card.yaml"), out, n_shards=1, checkpoint_every=1, progress=False, force=True)
    assert m["side_tables"] == [{"param": "entity_table", "file": "interleaved_entities.jsonl",
                                 "sha256": file_sha256(str(table))}]
    # a finished build is not silently reused either, and a missing table is named before anything runs
    table.write_text(table.read_text() + "\n")
    with pytest.raises(BuildConfigError, match="different settings"):
        build_card(load_card(data / "card.yaml"), out, n_shards=1, progress=False)
    table.unlink()
    with pytest.raises(FileNotFoundError, match=r"card\.yaml: builder\.params\.entity_table .*does not exist"):
        build_card(load_card(data / "card.yaml"), tmp_path / "fresh", n_shards=1, progress=False)


def test_the_selfies_vocabulary_a_card_selects_is_part_of_the_fingerprint(tmp_path):
    from biomatrix_plugin.corpus.build import side_table_checksums
    from biomatrix_plugin.vocab.vocabulary import fixed_vocabulary

    sums = []
    for name, symbols in (("v1", ["[C]", "[O]"]), ("v2", ["[C]", "[N]"])):
        vocab = fixed_vocabulary()
        vocab.entries["selfies"] = [(s, s) for s in symbols]
        vocab.save(tmp_path / name)
        card = {"builder": {"name": "molecule", "params": {"selfies_vocabulary": str(tmp_path / name)}}}
        (entry,) = side_table_checksums(card, tmp_path)
        assert entry["param"] == "selfies_vocabulary" and entry["file"] == str(tmp_path / name)
        sums.append(entry["sha256"])
    assert sums[0] != sums[1]
    open_card = {"builder": {"name": "molecule", "params": {"selfies_vocabulary": "open"}}}
    assert side_table_checksums(open_card, tmp_path) == []


def test_output_file_name_decides_the_folder_the_build_writes(tmp_path):
    """output.file_name corpus/fx_text_v2: the registry's dataset_info.json points at corpus/fx_text_v2, so
    building into REGISTRY/corpus must write fx_text_v2/ (and `data check --require-files` must pass)."""
    import yaml

    from biomatrix_plugin.corpus.registry import check_registry, write_dataset_info
    from biomatrix_plugin.corpus.stats import compute_stats

    reg = tmp_path / "registry"
    (reg / "cards").mkdir(parents=True)
    c = yaml.safe_load((CARDS / "fx_text.yaml").read_text())
    c["input"]["path"] = "text_docs.jsonl"
    c["output"] = {"file_name": "corpus/fx_text_v2"}
    (reg / "cards" / "fx_text.yaml").write_text(yaml.safe_dump(c))
    write_dataset_info(reg)
    assert json.loads((reg / "dataset_info.json").read_text())["fx_text"]["file_name"] == "corpus/fx_text_v2"
    errors, _ = check_registry(reg, require_files=True)
    assert any("fx_text_v2 does not exist yet" in e for e in errors)
    m = build_card(load_card(reg / "cards" / "fx_text.yaml"), reg / "corpus", data_root=CARDS.parent / "fixtures",
                   n_shards=2, progress=False)
    assert sorted(p.name for p in (reg / "corpus" / "fx_text_v2").iterdir()) == [
        "part-00000-of-00002.jsonl", "part-00001-of-00002.jsonl"]
    assert not (reg / "corpus" / "fx_text").exists() and m["output_folder"] == "fx_text_v2"
    assert check_registry(reg, require_files=True) == ([], [])
    # the --out folder's own dataset_info.json and the statistics follow the folder too
    assert json.loads((reg / "corpus" / "dataset_info.json").read_text())["fx_text"]["file_name"] == "fx_text_v2"
    assert compute_stats(reg / "corpus")["datasets"]["fx_text"]["instances"] == m["totals"]["written"] == 3
    # another card ending in the same folder must not write into (or --force away) this build
    other = {**c, "name": "fx_other"}
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(other))
    for force in (False, True):
        with pytest.raises(BuildConfigError, match="holds the build of card 'fx_text'"):
            build_card(load_card(tmp_path / "other.yaml"), reg / "corpus", data_root=CARDS.parent / "fixtures",
                       n_shards=2, progress=False, force=force)
    assert len(list((reg / "corpus" / "fx_text_v2").iterdir())) == 2


def test_cli_build_and_stats_with_approximate_counts(tmp_path, capsys):
    from biomatrix_plugin.cli import main

    out = tmp_path / "out"
    rc = main(["data", "build", str(CARDS / "fx_uniref50.yaml"), str(CARDS / "fx_text.yaml"), "--out", str(out),
               "--shards", "2", "--no-progress", "--stats"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "fx_uniref50: 5 records -> 3 instances written, 2 rejected" in printed
    assert "  dataset: fx_text,fx_uniref50\n  mix_strategy: interleave_under\n  interleave_probs: " in printed
    report = json.loads((out / "corpus_stats.json").read_text())
    uniref = report["datasets"]["fx_uniref50"]
    # 142 + 110 + 9 residues, each one token, plus two wrapper tokens per sequence
    assert uniref["tokens_by_modality"] == {"protein": 142 + 110 + 9 + 6}
    assert report["datasets"]["fx_text"]["tokens_by_group"].keys() == {"text"}
    assert (out / "corpus_composition.png").stat().st_size > 10_000
    probs = report["interleave_probs"]
    assert abs(sum(probs.values()) - 1.0) < 1e-9
    # fx_uniref50: weight 0.15 over 89 tokens/instance; fx_text: weight 0.1 over ~12 tokens/instance
    assert probs["fx_text"] > probs["fx_uniref50"]


@pytest.mark.slow
def test_stats_with_the_extended_tokenizer_count_exactly(tmp_path, tiny_extended_model):
    from transformers import AutoTokenizer

    from biomatrix_plugin.corpus.stats import compute_stats, plot_composition

    out = tmp_path / "out"
    for name in ("fx_pubchem_csv", "fx_uniprot", "fx_interleaved", "fx_structures"):
        build_card(card(name), out, n_shards=2, progress=False)
    report = compute_stats(out, tiny_extended_model)
    tok = AutoTokenizer.from_pretrained(tiny_extended_model)
    for name, d in report["datasets"].items():
        texts = [json.loads(line)["text"] for p in sorted((out / name).glob("*.jsonl"))
                 for line in p.read_text().splitlines()]
        whole = sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts)
        assert d["tokens"] == whole, name  # piecewise counting = tokenizing the whole instance
        assert d["instances"] == len(texts)
    assert report["datasets"]["fx_structures"]["tokens_by_group"]["3D"] > 0
    assert set(report["by_category"]) == {"molecule", "protein", "cross-entity"}
    assert plot_composition(report, tmp_path / "c.png").stat().st_size > 10_000


def test_many_input_files_are_sharded_by_file_with_the_same_instances(tmp_path):
    import shutil

    import yaml

    data = tmp_path / "data"
    data.mkdir()
    src = CARDS.parent / "fixtures" / "uniprot_sample.dat"
    for i in range(3):
        shutil.copy(src, data / f"part{i}.dat")
    c = yaml.safe_load((CARDS / "fx_uniprot.yaml").read_text())
    c["input"]["path"] = "part*.dat"
    (data / "card.yaml").write_text(yaml.safe_dump(c))
    by_file = build_card(load_card(data / "card.yaml"), tmp_path / "a", n_shards=2, progress=False)
    single = build_card(load_card(data / "card.yaml"), tmp_path / "b", n_shards=1, progress=False)
    assert by_file["shard_by"] == "file" and single["shard_by"] == "record"
    assert [s["records"] for s in by_file["shards"]] == [10, 5]  # files 0 and 2 | file 1
    lines = lambda out: sorted(l for p in (out / "fx_uniprot").glob("*.jsonl") for l in p.read_text().splitlines())
    assert lines(tmp_path / "a") == lines(tmp_path / "b")
    assert by_file["totals"]["rejected"] == single["totals"]["rejected"] == 9


def test_same_named_inputs_in_different_folders_get_their_own_seeds_and_traceable_rejects(tmp_path):
    """AFDB's vq_indices.csv per shard folder, FineWeb's 000_00000.parquet per dump: inputs are named by
    their path under the data root, not their base name, and still not by where the root is mounted."""
    import shutil

    import yaml

    outputs = {}
    for mount in ("mnt_a", "mnt_b"):
        root = tmp_path / mount / "data"
        for dump in ("dump1", "dump2"):
            (root / dump).mkdir(parents=True)
            shutil.copy(CARDS.parent / "fixtures" / "pubchem_properties.csv", root / dump / "props.csv")
        c = yaml.safe_load((CARDS / "fx_pubchem_csv.yaml").read_text())
        c["input"]["path"] = "*/props.csv"
        (tmp_path / mount / "card.yaml").write_text(yaml.safe_dump(c))
        out = tmp_path / mount / "out"
        m = build_card(load_card(tmp_path / mount / "card.yaml"), out, data_root=root, n_shards=1, progress=False)
        lines = (out / "fx_pubchem_csv" / "part-00000-of-00001.jsonl").read_text().splitlines()
        rejects_file = out / "_build" / "fx_pubchem_csv" / "rejects.jsonl"
        rejects = [json.loads(line) for line in rejects_file.read_text().splitlines()]
        outputs[mount] = (lines, rejects, m["inputs"])
    lines, rejects, inputs = outputs["mnt_a"]
    assert len(lines) == 12  # 6 accepted rows per copy, dump1's first
    # the same rows in the two folders get different random streams, so different compositions
    assert lines[:6] != lines[6:]
    assert [(r["source"], r["position"]) for r in rejects] == [
        ("dump1/props.csv", 6), ("dump1/props.csv", 7), ("dump2/props.csv", 6), ("dump2/props.csv", 7)]
    assert [i["file"] for i in inputs] == ["dump1/props.csv", "dump2/props.csv"]
    assert outputs["mnt_b"] == outputs["mnt_a"]  # another mount of the same root: byte-identical build


def test_vocab_build_counts_selfies_and_joint_tokens_of_the_built_corpus(tmp_path):
    """`biomatrix vocab build --corpus OUT/*/part-*.jsonl`: the vocabulary comes from the built corpus."""
    from biomatrix_plugin.cli import main
    from biomatrix_plugin.modalities.serialization import parse_joint_tokens, split_selfies, unwrap
    from biomatrix_plugin.vocab.vocabulary import read_counts

    out = tmp_path / "out"
    build_card(card("fx_conformers"), out, n_shards=2, progress=False)
    build_card(card("fx_pubchem_csv"), out, n_shards=2, progress=False)
    parts = sorted(str(p) for p in out.glob("*/part-*.jsonl"))
    assert main(["vocab", "build", "--corpus", *parts, "--out", str(tmp_path / "vocab"), "--quiet"]) == 0
    joint, selfies = 0, set()
    for p in parts:
        for line in Path(p).read_text().splitlines():
            u = unwrap(json.loads(line)["text"])
            joint += sum(len(parse_joint_tokens(s)) for s in u.values("mol3d"))
            selfies |= {s for v in u.values("selfies") for s in split_selfies(v)}
    counts = read_counts(tmp_path / "vocab" / "mol3d_joint_counts.tsv")
    assert joint > 0 and sum(counts.values()) == joint
    assert selfies <= set(read_counts(tmp_path / "vocab" / "selfies_counts.tsv"))


@pytest.mark.slow
def test_sigkill_mid_build_then_rerun_gives_byte_identical_output(tmp_path):
    """A real `kill -9` of `biomatrix data build`, then the same command again."""
    import os
    import random
    import signal
    import subprocess
    import sys
    import time

    import yaml

    data = tmp_path / "data"
    data.mkdir()
    rng = random.Random(0)
    with open(data / "big.fasta", "w") as fh:
        for i in range(30000):
            residues = "".join(rng.choice("ACDEFGHIKLMNPQRSTVWY") for _ in range(rng.randrange(50, 400)))
            fh.write(f">S{i}\n{residues}\n")
    c = {"name": "killme", "category": "protein", "source": {"name": "synthetic"}, "license": "CC0",
         "input": {"format": "fasta", "path": "big.fasta"}, "builder": {"name": "fasta_sequence"}}
    (data / "card.yaml").write_text(yaml.safe_dump(c))
    cli = [sys.executable, "-m", "biomatrix_plugin.cli", "data", "build", str(data / "card.yaml"), "--shards", "2",
           "--checkpoint-every", "500", "--no-progress"]
    subprocess.run(cli + ["--out", str(tmp_path / "clean")], check=True, capture_output=True)
    proc = subprocess.Popen(cli + ["--out", str(tmp_path / "killed")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    state = tmp_path / "killed" / "_build" / "killme" / "state-00000.json"
    deadline = time.time() + 60
    while time.time() < deadline and not (state.exists() and json.loads(state.read_text())["consumed"] >= 2000):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    st = json.loads(state.read_text())
    assert not st["done"], "the build finished before it could be killed; make the input larger"
    subprocess.run(cli + ["--out", str(tmp_path / "killed")], check=True, capture_output=True)
    assert shard_bytes(tmp_path / "killed", "killme") == shard_bytes(tmp_path / "clean", "killme")
    m = json.loads((tmp_path / "killed" / "_build" / "killme" / "manifest.json").read_text())
    assert m["totals"]["records"] == 30000 and m["totals"]["rejected"] == 0
