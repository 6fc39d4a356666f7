"""A plain (non-editable) install works from any folder (issue 9 §2), and the reference lookup of the tests.

The wheel is built from a copy of the working tree (so the build leaves no build/ or egg-info in the
checkout), installed with ``--no-deps --no-index`` into a fresh virtual environment, and the installed
``biomatrix`` runs from a folder outside the repository: the vocabulary, metric cards and paper numbers must
come from package data. Before this change setup.cfg shipped a ``data/`` folder that did not exist, so the
wheel held no vocabulary and ``vocab show`` failed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from conftest import REPO, golden_file, reference_file

PACKAGE_DATA = ("vocab/tokenizer_ext", "eval/cards", "demo/samples", "tasks/defaults")
SOURCES = ("setup.cfg", "pyproject.toml", "README.md", "biomatrix_plugin_hook.py", "biomatrix_plugin")


def _copy_sources(dest: Path) -> Path:
    dest.mkdir()
    for name in SOURCES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def _clean_env(**extra: str) -> dict:
    """No PYTHONPATH, no virtualenv of the test run, no checkout-pointing overrides."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME") and not k.startswith("BIOMATRIX_")}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("wheel")
    src = _copy_sources(work / "src")
    dist = work / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "-q", "-w", str(dist), str(src)], check=True, capture_output=True, text=True, timeout=300)
    wheel = next(dist.glob("biomatrix_plugin-*.whl"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                   check=True, timeout=120)
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c", purelib],
                               check=True, capture_output=True, text=True).stdout.strip())
    # The test environment is usually itself a venv, so --system-site-packages alone reaches the base
    # interpreter, not torch/rdkit/pip. A plain path line (not site.addsitedir) adds the test environment's
    # packages after the new venv's own site-packages without running its .pth files, so the editable
    # install of this checkout (an __editable__ .pth finder) is not active in the new venv at all.
    own = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "_test_environment.pth").write_text("".join(f"{p}\n" for p in sorted(own)))
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, capture_output=True, text=True, timeout=300, env=_clean_env())
    outside = work / "elsewhere"
    outside.mkdir()
    return {"wheel": wheel, "venv": venv, "site": site, "cwd": outside, "src": src}


def _run(installed: dict, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), cwd=installed["cwd"], env=_clean_env(**env), capture_output=True, text=True,
                          timeout=300)


def test_wheel_contains_the_package_data(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    expected = set()
    for folder in PACKAGE_DATA:
        root = REPO / "biomatrix_plugin" / folder
        expected |= {f"biomatrix_plugin/{p.relative_to(REPO / 'biomatrix_plugin').as_posix()}"
                     for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert any(n.endswith("vocab/tokenizer_ext/selfies.tsv") for n in expected)
    assert any(n.endswith("eval/cards/paper_results.yaml") for n in expected)
    missing = sorted(expected - names)
    assert not missing, f"package data missing from the wheel: {missing}"
    assert "biomatrix_plugin_hook.py" in names
    assert not any(n.startswith(("tests/", "data/", "recipes/")) for n in names)


def test_installed_package_is_the_wheel_not_the_checkout(installed):
    python = str(installed["venv"] / "bin" / "python")
    code = ("import biomatrix_plugin, biomatrix_plugin_hook; from biomatrix_plugin import paths;"
            "print(biomatrix_plugin.__file__); print(biomatrix_plugin_hook.__file__);"
            "print(paths.default_vocab_dir()); print(paths.checkout_root())")
    proc = _run(installed, python, "-I", "-c", code)
    assert proc.returncode == 0, proc.stderr
    package, hook, vocab, root = proc.stdout.split()
    site = str(installed["site"].resolve())
    assert Path(package).resolve().is_relative_to(site), f"{package}: the editable checkout shadows the wheel"
    assert Path(hook).resolve().is_relative_to(site)
    assert Path(vocab).resolve().is_relative_to(site) and (Path(vocab) / "selfies.tsv").is_file()
    assert root == "None"


def test_installed_cli_runs_outside_the_checkout(installed):
    biomatrix = str(installed["venv"] / "bin" / "biomatrix")
    show = _run(installed, biomatrix, "vocab", "show")
    assert show.returncode == 0, show.stderr
    counts = json.loads(show.stdout)
    assert counts["control"] == 10 and counts["residue"] == 26 and counts["prot3d"] == 4096 and counts["selfies"] > 0

    wrap = _run(installed, biomatrix, "wrap", "--modality", "selfies", "[C][C][O]")
    assert wrap.returncode == 0, wrap.stderr
    assert wrap.stdout.strip() == "<|mol_sfi_start|>[C][C][O]<|mol_sfi_end|>"

    metrics = _run(installed, biomatrix, "eval", "metric", "--list")
    assert metrics.returncode == 0, metrics.stderr
    names = {line.split()[0] for line in metrics.stdout.splitlines() if line.strip()}
    assert {"exact_match", "validity"} <= names

    python = str(installed["venv"] / "bin" / "python")
    paper = _run(installed, python, "-I", "-c",
                 "from biomatrix_plugin.eval.report import default_paper_file, load_paper;"
                 "print(default_paper_file()); print(len(load_paper()))")
    assert paper.returncode == 0, paper.stderr
    path, count = paper.stdout.split()
    assert Path(path).resolve().is_relative_to(installed["site"].resolve()) and int(count) > 50


def test_checkout_folders_outside_a_checkout_name_the_variable(installed, tmp_path):
    python = str(installed["venv"] / "bin" / "python")
    code = ("from biomatrix_plugin.errors import ConfigError\nfrom biomatrix_plugin import paths\n"
            "try:\n    paths.data_registry_dir()\nexcept ConfigError as exc:\n    print(exc)\n")
    proc = _run(installed, python, "-I", "-c", code)
    assert proc.returncode == 0, proc.stderr
    assert "BIOMATRIX_DATA_REGISTRY" in proc.stdout and "not a source checkout" in proc.stdout
    proc = _run(installed, python, "-I", "-c", "from biomatrix_plugin import paths; print(paths.data_registry_dir())",
                BIOMATRIX_DATA_REGISTRY=str(tmp_path))
    assert proc.stdout.strip() == str(tmp_path)


# --- the tests' reference lookup (tests/conftest.py), which .ci/run exercises with an empty folder


def test_reference_lookup_follows_the_environment(tmp_path, monkeypatch):
    (tmp_path / "shared" / "reference").mkdir(parents=True)
    (tmp_path / "shared" / "reference" / "present.txt").write_text("x")
    (tmp_path / "shared" / "golden" / "tool").mkdir(parents=True)
    (tmp_path / "shared" / "golden" / "tool" / "codes.jsonl").write_text("{}\n")
    monkeypatch.setenv("BIOMATRIX_REFERENCE_DIR", str(tmp_path / "shared" / "reference"))
    assert reference_file("present.txt") == tmp_path / "shared" / "reference" / "present.txt"
    assert golden_file("tool", "codes.jsonl") == tmp_path / "shared" / "golden" / "tool" / "codes.jsonl"
    with pytest.raises(pytest.skip.Exception, match=r"absent\.bin not found.*BIOMATRIX_REFERENCE_DIR"):
        reference_file("absent.bin")
    with pytest.raises(pytest.skip.Exception, match=r"golden.*other.*not found"):
        golden_file("other", "x.jsonl")
