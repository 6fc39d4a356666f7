"""The MolStrucTok checkpoint: one message when it is missing, `mol3d fetch-checkpoint`, and runs that stop
with one error (never a respawn loop) when it is missing or unreadable."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from biomatrix_plugin.cli import main
from biomatrix_plugin.errors import BioMatrixError, ConfigError
from biomatrix_plugin.mol3d.checkpoint import CHECKPOINT_ENV, DEFAULT_SHA256, require_checkpoint
from biomatrix_plugin.mol3d.errors import CheckpointError
from biomatrix_plugin.paths import reference_dir

REPO = Path(__file__).resolve().parents[2]
MOLBLOCK_SDF = """ethanol
     RDKit          3D

  3  2  0  0  0  0  0  0  0  0999 V2000
   -0.8883    0.1670   -0.0273 C   0  0  0  0  0  0  0  0  0  0  0  0
    0.4658   -0.5116   -0.0368 C   0  0  0  0  0  0  0  0  0  0  0  0
    1.4311    0.3229    0.5867 O   0  0  0  0  0  0  0  0  0  0  0  0
  1  2  1  0
  2  3  1  0
M  END
$$$$
"""


@pytest.fixture
def no_checkpoint(tmp_path, monkeypatch) -> Path:
    """A user's machine: no $BIOMATRIX_MOLSTRUCTOK_CKPT, an empty home cache, no reference folder."""
    home, empty = tmp_path / "home", tmp_path / "empty_reference"
    home.mkdir()
    empty.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("BIOMATRIX_REFERENCE_DIR", str(empty))
    monkeypatch.delenv(CHECKPOINT_ENV, raising=False)
    return home


def _env(home: Path) -> dict:
    """The subprocess environment of a machine without the checkpoint (see ``no_checkpoint``)."""
    env = dict(os.environ, HOME=str(home), BIOMATRIX_REFERENCE_DIR=str(home.parent / "empty_reference"))
    env.pop(CHECKPOINT_ENV, None)
    return env


def test_missing_checkpoint_is_one_config_error_saying_where_and_how(no_checkpoint):
    with pytest.raises(CheckpointError) as info:
        require_checkpoint()
    msg = str(info.value)
    assert isinstance(info.value, ConfigError) and isinstance(info.value, BioMatrixError)
    assert CHECKPOINT_ENV in msg
    assert str(no_checkpoint / ".cache" / "biomatrix" / "molstructok_vqvae.bin") in msg
    assert str(no_checkpoint.parent / "empty_reference" / "molstructok_vqvae.bin") in msg
    assert "molstructok/checkpoints/molstructok_vqvae.bin" in msg and "github.com/QizhiPei/BioMatrix" in msg
    assert "Apache-2.0" in msg and "biomatrix mol3d fetch-checkpoint" in msg


def test_explicit_paths_that_point_nowhere_are_errors(no_checkpoint, monkeypatch, tmp_path):
    with pytest.raises(CheckpointError, match="nope.bin: no such file"):
        require_checkpoint(tmp_path / "nope.bin")
    monkeypatch.setenv(CHECKPOINT_ENV, str(tmp_path / "env.bin"))
    with pytest.raises(CheckpointError, match=f"\\${CHECKPOINT_ENV}=.*env.bin: no such file"):
        require_checkpoint()


def _payload(tmp_path: Path) -> tuple[Path, str]:
    """A copy of the reference checkpoint when this checkout has one, else a small stand-in file."""
    ref = reference_dir()
    src = ref / "molstructok_vqvae.bin" if ref else None
    dst = tmp_path / "served" / "molstructok_vqvae.bin"
    dst.parent.mkdir()
    if src is not None and src.is_file():
        shutil.copyfile(src, dst)
        return dst, DEFAULT_SHA256
    dst.write_bytes(b"not the real checkpoint, a stand-in for the download test\n" * 100)
    return dst, hashlib.sha256(dst.read_bytes()).hexdigest()


def test_fetch_checkpoint_downloads_into_the_searched_cache(tmp_path, capsys):
    payload, digest = _payload(tmp_path)  # before HOME moves: the reference lookup still sees the real folder
    home = tmp_path / "home"
    home.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv("BIOMATRIX_REFERENCE_DIR", str(tmp_path / "served_elsewhere"))
        mp.delenv(CHECKPOINT_ENV, raising=False)
        args = ["mol3d", "fetch-checkpoint", "--url", payload.as_uri()]
        if digest != DEFAULT_SHA256:
            args += ["--sha256", digest]
        assert main(args) == 0
        target = home / ".cache" / "biomatrix" / "molstructok_vqvae.bin"
        assert target.read_bytes() == payload.read_bytes()
        assert require_checkpoint() == target  # found where it is searched
        assert os.listdir(target.parent) == ["molstructok_vqvae.bin"]  # no temporary file left


def test_fetch_with_a_wrong_hash_leaves_nothing(tmp_path, capsys):
    payload, _ = _payload(tmp_path)
    out = tmp_path / "dest" / "ck.bin"
    assert main(["mol3d", "fetch-checkpoint", "--url", payload.as_uri(), "--sha256", "0" * 64,
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "does not match" in err and "0" * 64 in err
    assert os.listdir(out.parent) == []
    out.write_bytes(b"previous")  # an existing file is not touched by a failed download
    assert main(["mol3d", "fetch-checkpoint", "--url", payload.as_uri(), "--sha256", "1" * 64,
                 "--out", str(out)]) == 2
    assert out.read_bytes() == b"previous" and os.listdir(out.parent) == ["ck.bin"]


def test_fetch_refuses_a_malformed_hash_and_names_a_missing_url(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["mol3d", "fetch-checkpoint", "--sha256", "abc"])
    assert info.value.code == 2
    assert main(["mol3d", "fetch-checkpoint", "--url", (tmp_path / "absent.bin").as_uri(),
                 "--out", str(tmp_path / "x.bin")]) == 2
    assert "download failed" in capsys.readouterr().err
    assert not (tmp_path / "x.bin").exists()


def _cli(args: list[str], env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "biomatrix_plugin.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_encode_without_checkpoint_ends_with_one_error(no_checkpoint, tmp_path, workers):
    sdf = tmp_path / "in.sdf"
    sdf.write_text(MOLBLOCK_SDF * 3)
    out = tmp_path / "out.jsonl"
    # before: --workers 2 never ended (pool workers respawned with a traceback each)
    proc = _cli(["mol3d", "encode", "--in", str(sdf), "--out", str(out), "--workers", workers,
                 "--no-progress"], _env(no_checkpoint), timeout=90)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.strip()] == [proc.stderr.strip()]
    assert proc.stderr.startswith("error: no MolStrucTok checkpoint found") and "fetch-checkpoint" in proc.stderr
    assert not out.exists()


def test_worker_start_up_failure_is_one_error_not_a_respawn_loop(no_checkpoint, tmp_path):
    bad = tmp_path / "corrupt.bin"
    bad.write_bytes(b"\x00garbage, not a torch checkpoint" * 10)  # passes the parent's file check
    sdf = tmp_path / "in.sdf"
    sdf.write_text(MOLBLOCK_SDF * 20)
    for args in (["mol3d", "encode", "--in", str(sdf), "--out", str(tmp_path / "o.jsonl")],
                 ["mol3d", "decode", "--in", str(sdf), "--out", str(tmp_path / "o.sdf")]):
        proc = _cli([*args, "--workers", "2", "--chunk-size", "2", "--checkpoint", str(bad), "--no-progress"],
                    _env(no_checkpoint), timeout=90)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr and proc.stderr.count("error:") == 1
        assert "corrupt.bin: cannot be read" in proc.stderr


def test_bench_without_checkpoint_skips_naming_what_is_missing(no_checkpoint):
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_mol3d.py"), "--repeat", "1"],
                          env=_env(no_checkpoint), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("skip: bench_mol3d") and "molstructok_vqvae.bin" in proc.stdout
