"""The build engine under faults: code changes, concurrent builds, kill -9 of the parent, changed finished
shards, disk full, unwritable or wrong-type --out, corrupt inputs, a missing MolStrucTok checkpoint and option
values that cannot work. Real processes and real files; nothing is mocked except the absent checkpoint's
search locations (environment variables)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from biomatrix_plugin.corpus import build as build_module
from biomatrix_plugin.corpus.build import (
    BuildConfigError,
    BuildInterrupted,
    BuildLockedError,
    BuildOutputError,
    CheckpointMissingError,
    ShardChangedError,
    build_card,
    needs_mol3d_checkpoint,
)
from biomatrix_plugin.corpus.registry import load_card
from biomatrix_plugin.errors import BioMatrixError, ConfigError
from biomatrix_plugin.io import file_sha256
from conftest import corpus_fixture_card

CARDS = Path(__file__).resolve().parent / "cards"
REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "biomatrix_plugin.cli", "corpus", "build"]


card = corpus_fixture_card  # one helper for the corpus test modules (tests/conftest.py)


def parts(out: Path, folder: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / folder).iterdir())} if (out / folder).exists() else {}


def fasta_card(tmp_path: Path, n: int, name: str = "big", gz: bool = False) -> Path:
    """A FASTA card over ``n`` random sequences (one file), big enough to be killed mid-build."""
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    rng = random.Random(0)
    text = "".join(f">S{i}\n" + "".join(rng.choice("ACDEFGHIKLMNPQRSTVWY") for _ in range(rng.randrange(50, 400)))
                   + "\n" for i in range(n))
    path = data / ("big.fasta.gz" if gz else "big.fasta")
    if gz:
        import gzip

        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    c = {"name": name, "category": "protein", "source": {"name": "synthetic"}, "license": "CC0",
         "input": {"format": "fasta", "path": path.name}, "builder": {"name": "fasta_sequence"}}
    (data / f"{name}.yaml").write_text(yaml.safe_dump(c))
    return data / f"{name}.yaml"


def children_of(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry.name))
    return kids


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie (unreaped by pid 1) runs no code


def wait_for(predicate, seconds: float = 60.0, step: float = 0.05) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def consumed(out: Path, name: str, shard: int) -> int:
    try:
        return json.loads((out / "_build" / name / f"state-{shard:05d}.json").read_text())["consumed"]
    except (OSError, ValueError):
        return 0


# ---------------------------------------------------------------- issue 9 §3: builds notice code changes

def test_one_changed_byte_in_a_protein3d_module_refuses_to_resume_without_force(tmp_path, monkeypatch):
    """The fingerprint covers every module a build runs, not only corpus/: the package is copied (its .py
    files), the build module is pointed at the copy, and one byte of protein3d/tokenizer.py is changed."""
    pkg = Path(build_module.__file__).resolve().parent.parent
    copy = tmp_path / "pkg" / "biomatrix_plugin"
    for path in pkg.rglob("*.py"):
        target = copy / path.relative_to(pkg)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    out = tmp_path / "out"
    with pytest.raises(BuildInterrupted):
        build_card(card("fx_uniprot"), out, n_shards=1, checkpoint_every=1, progress=False, stop_after=1)
    real = build_module.code_version()["builder_code_sha256"]
    monkeypatch.setattr(build_module, "__file__", str(copy / "corpus" / "build.py"))
    assert build_module.code_version()["builder_code_sha256"] == real  # the copy is the same code
    module = copy / "protein3d" / "tokenizer.py"
    data = bytearray(module.read_bytes())
    data[-2] = ord("#") if data[-2] != ord("#") else ord(" ")
    module.write_bytes(bytes(data))
    with pytest.raises(BuildConfigError, match="different settings"):
        build_card(card("fx_uniprot"), out, n_shards=1, checkpoint_every=1, progress=False)
    m = build_card(card("fx_uniprot"), out, n_shards=1, checkpoint_every=1, progress=False, force=True)
    assert m["code_version"]["builder_code_sha256"] == build_module.code_version()["builder_code_sha256"]


# ---------------------------------------------------------------- issue 9 §4: keyword construction

def test_shard_tasks_and_build_options_are_keyword_only_and_validated(tmp_path):
    with pytest.raises(TypeError):
        build_module.ShardTask({}, "c.yaml", (), 0, 1, str(tmp_path), "f")  # 12 positional fields no more
    with pytest.raises(TypeError):
        build_card(card("fx_text"), tmp_path / "out", None, 2)  # build_card(card, out, root, shards, ...)
    for bad in ({"n_shards": 0}, {"workers": 0}, {"checkpoint_every": 0}, {"n_shards": -1},
                {"output_format": "csv"}):
        with pytest.raises(ConfigError):
            build_card(card("fx_text"), tmp_path / "out", progress=False, **bad)
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- issue 10 §2: one build per folder

def _hold_lock(out: Path, folder: str) -> subprocess.Popen:
    code = ("import sys, time\nfrom biomatrix_plugin.corpus.build import build_lock\n"
            "with build_lock(sys.argv[1], sys.argv[2]):\n    print('locked', flush=True)\n    time.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(out), folder], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_build_of_a_locked_folder_refuses_naming_the_holder_pid(tmp_path):
    out = tmp_path / "out"
    holder = _hold_lock(out, "fx_text")
    try:
        with pytest.raises(BuildLockedError, match=rf"pid {holder.pid}\b"):
            build_card(card("fx_text"), out, n_shards=2, progress=False)
        assert not (out / "fx_text").exists() and not (out / "_build" / "fx_text").exists()
        build_card(card("fx_uniprot"), out, n_shards=2, progress=False)  # another folder is another lock
    finally:
        holder.kill()  # as a scheduler would: the lock dies with its process
        holder.wait()
    assert build_card(card("fx_text"), out, n_shards=2, progress=False)["totals"]["written"] > 0


@pytest.mark.slow
def test_two_cli_builds_started_a_second_apart_do_not_both_run(tmp_path):
    card_path = fasta_card(tmp_path, 30000)
    out = tmp_path / "out"
    cmd = CLI + [str(card_path), "--out", str(out), "--shards", "2", "--checkpoint-every", "500", "--no-progress"]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_for(lambda: consumed(out, "big", 0) > 0, 60)
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    first_out, first_err = first.communicate(timeout=300)
    assert first.returncode == 0, first_err
    assert second.returncode == 2, second.stderr
    assert f"pid {first.pid}" in second.stderr and "error:" in second.stderr
    assert "Traceback" not in second.stderr
    lines = b"".join(parts(out, "big").values()).splitlines()
    assert len(lines) == 30000 == len(set(lines))  # every instance once (was: 60,000 lines)


@pytest.mark.slow
def test_kill_9_of_the_parent_kills_its_pool_workers_and_the_resume_is_byte_identical(tmp_path):
    card_path = fasta_card(tmp_path, 40000)
    base = CLI + [str(card_path), "--shards", "2", "--checkpoint-every", "500", "--no-progress"]
    subprocess.run(base + ["--out", str(tmp_path / "clean")], check=True, capture_output=True, timeout=300)
    out = tmp_path / "killed"
    proc = subprocess.Popen(base + ["--out", str(out), "--workers", "2"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    assert wait_for(lambda: consumed(out, "big", 0) >= 1000 and consumed(out, "big", 1) >= 1000, 120)
    workers = children_of(proc.pid)
    assert len(workers) >= 2
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert wait_for(lambda: not any(alive(pid) for pid in workers), 10), "pool workers outlived their parent"
    staged = sorted((out / "_build" / "big").glob("part-*.jsonl"))
    assert staged, "both shards were unfinished when killed"
    sizes = [p.stat().st_size for p in staged]
    time.sleep(1.5)
    assert [p.stat().st_size for p in staged] == sizes, "something still writes the killed build's shards"
    assert not any(s["done"] for s in (json.loads(p.read_text()) for p in (out / "_build" / "big").glob("state-*")))
    subprocess.run(base + ["--out", str(out), "--workers", "2"], check=True, capture_output=True, timeout=300)
    assert parts(out, "big") == parts(tmp_path / "clean", "big")
    lines = b"".join(parts(out, "big").values()).splitlines()
    assert len(lines) == 40000 == len(set(lines))
    manifest = json.loads((out / "_build" / "big" / "manifest.json").read_text())
    assert manifest["totals"]["written"] == 40000


def test_pool_workers_ask_the_kernel_to_die_with_their_parent():
    """The initializer sets PR_SET_PDEATHSIG (read back with PR_GET_PDEATHSIG) in a real spawned worker."""
    if not sys.platform.startswith("linux"):
        pytest.skip("parent-death signals are Linux only")
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    with ctx.Pool(1, initializer=build_module._init_worker, initargs=(os.getpid(), None)) as pool:
        assert pool.apply(_pdeathsig) == int(signal.SIGKILL)


def _pdeathsig() -> int:
    import ctypes

    value = ctypes.c_int(0)
    ctypes.CDLL(None).prctl(2, ctypes.byref(value), 0, 0, 0)  # PR_GET_PDEATHSIG
    return value.value


# ---------------------------------------------------------------- finished shards are verified

@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_flipped_byte_in_a_finished_shard_is_an_error_not_re_recorded(tmp_path, fmt):
    out = tmp_path / "out"
    first = build_card(card("fx_pubchem_sdf"), out, n_shards=2, progress=False, output_format=fmt)
    clean = parts(out, "fx_pubchem_sdf")
    part = out / "fx_pubchem_sdf" / f"part-00001-of-00002.{fmt}"
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0x01  # same size
    part.write_bytes(bytes(data))
    manifest_before = (out / "_build" / "fx_pubchem_sdf" / "manifest.json").read_bytes()
    with pytest.raises(ShardChangedError, match=rf"shard 1 of 2: .*part-00001-of-00002\.{fmt} has sha256"):
        build_card(card("fx_pubchem_sdf"), out, n_shards=2, progress=False, output_format=fmt)
    assert (out / "_build" / "fx_pubchem_sdf" / "manifest.json").read_bytes() == manifest_before
    again = build_card(card("fx_pubchem_sdf"), out, n_shards=2, progress=False, output_format=fmt, force=True)
    assert parts(out, "fx_pubchem_sdf") == clean
    assert [s["sha256"] for s in again["shards"]] == [s["sha256"] for s in first["shards"]] == \
        [file_sha256(out / "fx_pubchem_sdf" / s["file"]) for s in first["shards"]]


def test_a_finished_build_rerun_verifies_and_keeps_the_recorded_hashes(tmp_path):
    out = tmp_path / "out"
    first = build_card(card("fx_uniprot"), out, n_shards=3, progress=False)
    again = build_card(card("fx_uniprot"), out, n_shards=3, progress=False)
    assert again["shards"] == first["shards"]


# ---------------------------------------------------------------- output that cannot be written

def test_out_that_is_a_file_is_one_clear_error(tmp_path, capsys):
    from biomatrix_plugin.cli import main

    target = tmp_path / "out"
    target.write_text("not a folder")
    with pytest.raises(BuildOutputError, match="is a file"):
        build_card(card("fx_text"), target, progress=False)
    assert main(["corpus", "build", str(CARDS / "fx_text.yaml"), "--out", str(target), "--no-progress"]) == 2
    assert "error: fx_text: --out" in capsys.readouterr().err
    with pytest.raises(BuildOutputError):
        build_card(card("fx_text"), target / "sub", progress=False)  # a file where a parent folder must be
    assert target.read_text() == "not a folder"


def test_unwritable_out_is_one_clear_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root writes anyway; a read-only filesystem does not let it
            locked = Path("/sys/biomatrix-corpus-test")
            if os.access("/sys", os.W_OK) and not Path("/sys/kernel").exists():
                pytest.skip("no read-only location to write to")
        with pytest.raises(BuildOutputError, match="cannot write"):
            build_card(card("fx_text"), locked / "out", progress=False)
    finally:
        (tmp_path / "locked").chmod(0o700)


def _limited(limit: int):
    def pre() -> None:
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return pre


def test_disk_full_mid_shard_is_one_error_and_leaves_no_partial_part_file(tmp_path):
    """A file-size limit makes the writes fail the way a full disk does (OSError from write/flush)."""
    card_path = fasta_card(tmp_path, 3000)
    out = tmp_path / "out"
    res = subprocess.run(CLI + [str(card_path), "--out", str(out), "--shards", "2", "--no-progress"],
                         capture_output=True, text=True, preexec_fn=_limited(200_000), timeout=300)
    assert res.returncode == 2, res.stderr
    assert "error: big:" in res.stderr and "cannot write the build output" in res.stderr
    assert "Traceback" not in res.stderr
    assert not (out / "dataset_info.json").exists()
    assert not any((out / "big").iterdir()) if (out / "big").exists() else True
    # with the disk freed the same command finishes, identical to an untroubled build
    subprocess.run(CLI + [str(card_path), "--out", str(out), "--shards", "2", "--no-progress"], check=True,
                   capture_output=True, timeout=300)
    subprocess.run(CLI + [str(card_path), "--out", str(tmp_path / "clean"), "--shards", "2", "--no-progress"],
                   check=True, capture_output=True, timeout=300)
    assert parts(out, "big") == parts(tmp_path / "clean", "big")


def test_a_truncated_gzip_input_is_one_error_naming_the_file_and_no_partial_output(tmp_path, capsys):
    from biomatrix_plugin.cli import main

    card_path = fasta_card(tmp_path, 3000, gz=True)
    gz = card_path.parent / "big.fasta.gz"
    gz.write_bytes(gz.read_bytes()[: gz.stat().st_size // 2])
    out = tmp_path / "out"
    rc = main(["corpus", "build", str(card_path), "--out", str(out), "--shards", "2", "--no-progress",
               "--checkpoint-every", "100"])
    err = capsys.readouterr().err
    assert rc == 2 and "error: big:" in err and "big.fasta.gz" in err and "truncated" in err
    assert not (out / "dataset_info.json").exists()
    assert parts(out, "big") == {}  # no shard reached the end of the file: nothing in the dataset folder


# ---------------------------------------------------------------- a missing MolStrucTok checkpoint

@pytest.fixture
def no_checkpoint(tmp_path, monkeypatch):
    """Every place the checkpoint is looked for is empty (a user's clone before fetch-checkpoint)."""
    empty = tmp_path / "empty_reference"
    empty.mkdir()
    monkeypatch.setenv("BIOMATRIX_REFERENCE_DIR", str(empty))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("BIOMATRIX_MOLSTRUCTOK_CKPT", raising=False)


def test_a_missing_checkpoint_stops_a_3d_card_before_the_first_record(tmp_path, no_checkpoint, capsys):
    from biomatrix_plugin.cli import main

    out = tmp_path / "out"
    for name in ("fx_pubchem_sdf", "fx_conformers", "fx_crossdocked"):
        with pytest.raises(CheckpointMissingError, match=r"(?s)looked in.*fetch-checkpoint"):
            build_card(load_card(CARDS / f"{name}.yaml"), out, progress=False)
    assert not out.exists()  # nothing written, not even the folder
    assert main(["corpus", "build", str(CARDS / "fx_pubchem_sdf.yaml"), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "fetch-checkpoint" in err and not out.exists()
    # cards without a 3D molecule view do not need it
    for name in ("fx_pubchem_csv", "fx_zinc20", "fx_moltextnet", "fx_uniprot"):
        assert build_card(card(name), out, progress=False)["totals"]["records"] > 0


def test_which_cards_need_the_checkpoint_is_decided_from_builder_and_views():
    need = {p.stem for p in (REPO / "data_registry" / "cards").glob("*.yaml")
            if needs_mol3d_checkpoint(yaml.safe_load(p.read_text()))}
    fixtures = {p.stem for p in CARDS.glob("*.yaml") if needs_mol3d_checkpoint(yaml.safe_load(p.read_text()))}
    assert fixtures == {"fx_pubchem_sdf", "fx_conformers", "fx_crossdocked"}
    assert {"pcqm4mv2", "pubchem_compounds"} <= need and not need & {"zinc20", "moltextnet", "uniref50"}
    base = {"name": "x", "input": {"format": "sdf"}}
    assert not needs_mol3d_checkpoint({**base, "builder": {"name": "molecule", "params": {"views": {"mol3d": 0}}}})
    assert needs_mol3d_checkpoint({**base, "builder": {"name": "molecule_text",
                                                      "params": {"views": {"smiles": 1.0}}}})  # mol3d default 0.5
    assert not needs_mol3d_checkpoint({**base, "builder": {"name": "molecule_text"}})
    assert not needs_mol3d_checkpoint({"name": "x", "input": {"format": "smi"}, "builder": {"name": "molecule"}})


# ---------------------------------------------------------------- issue 10 §3: options that cannot work

@pytest.mark.parametrize("option", [["--checkpoint-every", "0"], ["--shards", "0"], ["--workers", "0"],
                                    ["--workers", "-2"], ["--shards", "two"]])
def test_option_values_that_cannot_work_are_refused_by_argparse(tmp_path, capsys, option):
    from biomatrix_plugin.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["corpus", "build", str(CARDS / "fx_text.yaml"), "--out", str(tmp_path / "out"), *option])
    assert exc.value.code == 2
    assert option[0] in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_every_engine_error_is_a_biomatrix_error():
    for cls in (BuildConfigError, BuildLockedError, ShardChangedError, BuildOutputError, CheckpointMissingError,
                BuildInterrupted):
        assert issubclass(cls, BioMatrixError)
    assert issubclass(BuildOutputError, OSError)


def test_stats_on_a_damaged_part_file_or_an_unbuilt_folder_is_one_error(tmp_path, capsys):
    from biomatrix_plugin.cli import main

    assert main(["corpus", "stats", str(tmp_path)]) == 2
    assert "error:" in capsys.readouterr().err
    out = tmp_path / "out"
    build_card(card("fx_text"), out, n_shards=2, progress=False)
    part = out / "fx_text" / "part-00001-of-00002.jsonl"
    part.write_bytes(part.read_bytes() + b"{not json\n")
    assert main(["corpus", "stats", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{part}:" in err and "not JSON" in err and "Traceback" not in err
    assert not (out / "corpus_stats.json").exists()
