"""recipes/smoke/cpt_corpus.yaml trains on a corpus built from the production cards (smoke_root inputs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import molstructok_checkpoint_path

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "recipes" / "smoke" / "cpt_corpus.yaml"


def build_smoke_corpus(dataset_dir: Path) -> list[str]:
    from biomatrix_plugin.corpus.build import build_card
    from biomatrix_plugin.corpus.registry import load_card

    molstructok_checkpoint_path()  # the smoke corpus has molecule-3D views: skip, naming it, without the checkpoint
    cfg = yaml.safe_load(RECIPE.read_text())
    names = [n.strip() for n in cfg["dataset"].split(",")]
    for name in names:
        build_card(load_card(REPO / "data_registry" / "cards" / f"{name}.yaml"), dataset_dir / "corpus",
                   data_root=REPO / "tests" / "corpus" / "smoke_root", n_shards=2, progress=False)
    shutil.copy(REPO / "data_registry" / "dataset_info.json", dataset_dir / "dataset_info.json")
    return names


def test_smoke_corpus_loads_through_llamafactory(tmp_path, tiny_extended_model):
    """LLaMA-Factory's own loader + pretraining preprocessing read every built dataset."""
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer

    names = build_smoke_corpus(tmp_path)
    cfg = yaml.safe_load(RECIPE.read_text())
    cfg.update(model_name_or_path=str(tiny_extended_model), output_dir=str(tmp_path / "out"),
               dataset_dir=str(tmp_path), packing=False)
    model_args, data_args, training_args, finetuning_args, _ = get_train_args(cfg)
    tok_module = load_tokenizer(model_args)
    template = get_template_and_fix_tokenizer(tok_module["tokenizer"], data_args)
    dataset = get_dataset(template, model_args, data_args, training_args, stage="pt", **tok_module)["train_dataset"]
    tokenizer = tok_module["tokenizer"]
    texts = [tokenizer.decode(row["input_ids"]) for row in dataset]
    assert len(texts) > 20
    joined = "".join(texts)
    markers = ("<|mol_smi_start|>", "<|mol_sfi_start|>", "<|mol_3d_start|>", "<|prot_aa_start|>", "<|prot_3d_start|>")
    for marker in markers:
        assert marker in joined, marker  # every modality reaches the trainer as single special tokens
    assert len(names) == 8


@pytest.mark.slow
def test_smoke_recipe_trains(tmp_path, tiny_extended_model):
    build_smoke_corpus(tmp_path)
    cfg = yaml.safe_load(RECIPE.read_text())
    cfg.update(model_name_or_path=str(tiny_extended_model), output_dir=str(tmp_path / "out"),
               dataset_dir=str(tmp_path), max_steps=3)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    cli = Path(sys.executable).parent / "llamafactory-cli"
    env = {**os.environ, "DISABLE_VERSION_CHECK": "1", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([str(cli), "train", str(tmp_path / "cfg.yaml")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = json.loads((tmp_path / "out" / "trainer_state.json").read_text())
    losses = [h["loss"] for h in state["log_history"] if "loss" in h]
    assert len(losses) == 3 and all(l == l and l > 0 for l in losses)  # finite, positive
