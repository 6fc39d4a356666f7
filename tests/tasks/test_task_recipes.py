"""`tasks recipes`: the Table 30 variant recipes come from the task files and the production SFT recipe,
`--check` catches a hand edit, and a generated recipe passes LLaMA-Factory's own argument parser."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from biomatrix_plugin.cli import main
from biomatrix_plugin.tasks import recipes
from biomatrix_plugin.tasks.registry import TaskRegistry

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def recipes_root(tmp_path) -> Path:
    root = tmp_path / "recipes"
    root.mkdir()
    for name in ("sft_4b.yaml", "sft_1.7b.yaml"):
        shutil.copy(REPO / "recipes" / name, root)
    return root


def test_variant_recipe_keeps_the_production_settings_and_lists_the_group(recipes_root):
    generated = recipes.generate(TaskRegistry().all(), recipes_root)
    assert sorted(p.name for p in generated) == ["vmix_mol1d_1.7b.yaml", "vmix_mol1d_4b.yaml"]
    text = generated[recipes_root / "sft" / "variants" / "vmix_mol1d_4b.yaml"]
    assert text.startswith("#") and "llamafactory-cli train recipes/sft/variants/vmix_mol1d_4b.yaml" in text
    cfg = yaml.safe_load(text)
    base = yaml.safe_load((recipes_root / "sft_4b.yaml").read_text())
    assert {k: v for k, v in cfg.items() if k not in recipes.RUN_KEYS} == \
        {k: v for k, v in base.items() if k not in recipes.RUN_KEYS}
    names = cfg["dataset"].split(",")
    assert len(names) == 28 and "smolinstruct_s2i_selfies" in names and "smolinstruct_s2i_smiles" in names
    assert cfg["dataset_dir"] == "data_registry/sft" and cfg["output_dir"] == "runs/biomatrix-4b-sft-vmix_mol1d"


def test_check_catches_a_hand_edit(recipes_root, capsys):
    args = ["tasks", "recipes", "--recipes-dir", str(recipes_root)]
    assert main(args + ["--check"]) == 2
    assert main(args + ["--write"]) == 0
    assert main(args + ["--check"]) == 0
    path = recipes_root / "sft" / "variants" / "vmix_mol1d_4b.yaml"
    path.write_text(path.read_text().replace("learning_rate: 5.0e-05", "learning_rate: 1.0e-05"))
    assert main(args + ["--check"]) == 2
    assert "vmix_mol1d_4b.yaml" in capsys.readouterr().err


@pytest.mark.slow  # builds the tiny extended model for the parser
def test_generated_recipe_passes_llamafactory_parser(recipes_root, tiny_extended_model, tmp_path, monkeypatch):
    from llamafactory.hparams import get_train_args

    generated = recipes.generate(TaskRegistry().all(), recipes_root)
    text = generated[recipes_root / "sft" / "variants" / "vmix_mol1d_4b.yaml"]
    cfg = yaml.safe_load(text)
    cfg.update(deepspeed=None, enable_liger_kernel=False, bf16=False, flash_attn="auto",
               model_name_or_path=str(tiny_extended_model), output_dir=str(tmp_path / "out"), use_cpu=True)
    monkeypatch.chdir(REPO)
    _, data_args, _, finetuning_args, _ = get_train_args(cfg)
    assert finetuning_args.stage == "sft" and data_args.dataset == cfg["dataset"].split(",")
