"""`biomatrix tasks recipes` (the generator is biomatrix_plugin.tasks.recipes): writes the recipes and the
SFT dataset_info under a root, `--check` passes on what it wrote and fails on a hand edit or an orphan."""

from __future__ import annotations

import json
from pathlib import Path

from biomatrix_plugin.cli import main


def test_write_then_check_then_hand_edit(tmp_path: Path, capsys):
    args = ["tasks", "recipes", "--root", str(tmp_path)]
    assert main(args + ["--check"]) == 2
    assert main(args) == 0
    assert main(args + ["--check"]) == 0
    recipe = tmp_path / "recipes" / "sft" / "variants" / "vmix_mol1d_4b.yaml"
    assert "smolinstruct_s2i_selfies" in recipe.read_text()
    info = json.loads((tmp_path / "data_registry" / "sft" / "dataset_info.json").read_text())
    assert info["smolinstruct_s2i_smiles"]["file_name"] == "smolinstruct_s2i/smiles/train.jsonl"
    recipe.write_text(recipe.read_text() + "seed: 7\n")  # a hand edit
    (recipe.parent / "vgone_4b.yaml").write_text("# stale\n")
    capsys.readouterr()
    assert main(args + ["--check"]) == 2
    err = capsys.readouterr().err
    assert "recipes/sft/variants/vmix_mol1d_4b.yaml: differs" in err and "vgone_4b.yaml: no task group" in err
