"""Every recipe: launch comment, datasets registered, and LLaMA-Factory's own argument parser accepts it.

GPU-only switches (DeepSpeed, Liger, bf16 on a CPU) cannot be instantiated here; they are checked
statically (the DeepSpeed JSON parses, the batch arithmetic in the comment holds) and switched off for
the parser run. Everything else goes through ``llamafactory.hparams.get_train_args`` unchanged.
"""

import json
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
RECIPES = sorted((REPO / "recipes").rglob("*.yaml"))
GPU_ONLY = {"deepspeed": None, "enable_liger_kernel": False, "bf16": False, "flash_attn": "auto"}


def test_recipes_exist():
    names = {p.relative_to(REPO / "recipes").as_posix() for p in RECIPES}
    assert {"cpt_4b.yaml", "cpt_1.7b.yaml", "sft_4b.yaml", "smoke/cpt.yaml", "smoke/sft.yaml"} <= names


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.relative_to(REPO / "recipes").as_posix())
def test_recipe_static(path):
    text = path.read_text()
    rel = path.relative_to(REPO).as_posix()
    assert text.startswith("#"), f"{rel}: must begin with a comment giving its launch command"
    header = text.split("\n\n")[0] + text.split("###")[0]
    assert f"llamafactory-cli train {rel}" in header, f"{rel}: launch command missing from the top comment"
    cfg = yaml.safe_load(text)
    info = json.loads((REPO / cfg["dataset_dir"] / "dataset_info.json").read_text())
    for name in str(cfg["dataset"]).split(","):
        assert name.strip() in info, f"{rel}: dataset {name} not registered in {cfg['dataset_dir']}"
    assert cfg.get("trust_remote_code") is False
    if cfg.get("deepspeed"):
        ds = json.loads((REPO / cfg["deepspeed"]).read_text())
        assert ds["zero_optimization"]["stage"] in (1, 2, 3)
    m = re.search(r"Global batch ([\d,]+) = per_device_train_batch_size (\d+) x gradient_accumulation_steps (\d+) x (\d+) GPUs", text)
    if m:
        total, per_dev, accum, gpus = (int(g.replace(",", "")) for g in m.groups())
        assert per_dev == cfg["per_device_train_batch_size"] and accum == cfg["gradient_accumulation_steps"]
        assert total == per_dev * accum * gpus


def test_production_cpt_matches_the_report():
    for name in ("cpt_4b.yaml", "cpt_1.7b.yaml"):
        cfg = yaml.safe_load((REPO / "recipes" / name).read_text())
        # packing comes from stage pt; an explicit `packing: true` would shorten blocks to 8,191 tokens
        assert cfg["stage"] == "pt" and "packing" not in cfg and cfg["cutoff_len"] == 8192
        assert cfg["learning_rate"] == 2.0e-4 and cfg["lr_scheduler_type"] == "cosine" and cfg["warmup_steps"] == 2000
        assert cfg["num_train_epochs"] == 1.0 and cfg["bf16"] and cfg["flash_attn"] == "fa2"
        assert cfg["enable_liger_kernel"] and "new_special_tokens_config" not in cfg
    sft = yaml.safe_load((REPO / "recipes" / "sft_4b.yaml").read_text())
    assert sft["learning_rate"] == 5.0e-5 and sft["warmup_ratio"] == 0.1 and sft["cutoff_len"] == 2048
    assert sft["neat_packing"] is True and sft["template"].startswith("qwen3")
    for name in ("sft_4b.yaml", "sft_1.7b.yaml"):  # fa2 + neat packing: LLaMA-Factory asserts one row per device
        cfg = yaml.safe_load((REPO / "recipes" / name).read_text())
        assert cfg["flash_attn"] != "fa2" or not cfg["neat_packing"] or cfg["per_device_train_batch_size"] == 1


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.relative_to(REPO / "recipes").as_posix())
def test_recipe_passes_llamafactory_parser(path, tiny_extended_model, tmp_path, monkeypatch):
    from llamafactory.hparams import get_train_args

    monkeypatch.chdir(REPO)
    cfg = yaml.safe_load(path.read_text())
    cfg.update({k: v for k, v in GPU_ONLY.items() if k in cfg})
    cfg.update(model_name_or_path=str(tiny_extended_model), output_dir=str(tmp_path / "out"), use_cpu=True)
    model_args, data_args, training_args, finetuning_args, _ = get_train_args(cfg)
    assert finetuning_args.stage == cfg["stage"]
    # an explicit packing/neat_packing makes 0.9.5 reserve one token; stage pt packs without that
    expected = cfg["cutoff_len"] - 1 if (cfg.get("packing") or cfg.get("neat_packing")) else cfg["cutoff_len"]
    assert data_args.cutoff_len == expected
    assert data_args.packing is (cfg["stage"] == "pt" or bool(cfg.get("neat_packing")) or bool(cfg.get("packing")))
    assert training_args.learning_rate == cfg["learning_rate"]


def test_parser_rejects_a_typo(tiny_extended_model, tmp_path):
    from llamafactory.hparams import get_train_args

    cfg = yaml.safe_load((REPO / "recipes" / "smoke" / "cpt.yaml").read_text())
    cfg.update(model_name_or_path=str(tiny_extended_model), output_dir=str(tmp_path), learnig_rate=1e-3)
    with pytest.raises(ValueError, match="learnig_rate"):
        get_train_args(cfg)


PT_RECIPES = [p for p in RECIPES if yaml.safe_load(p.read_text())["stage"] == "pt"]


@pytest.mark.parametrize("path", PT_RECIPES, ids=lambda p: p.relative_to(REPO / "recipes").as_posix())
def test_pretraining_documents_end_with_endoftext(path, extended_tokenizer):
    """A template with replace_eos turns every CPT document separator into the chat end-of-turn token."""
    from llamafactory.data.template import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments
    from transformers import AutoTokenizer

    cfg = yaml.safe_load(path.read_text())
    tok = AutoTokenizer.from_pretrained(extended_tokenizer.name_or_path)
    get_template_and_fix_tokenizer(tok, DataArguments(template=cfg["template"]))
    assert tok.eos_token == "<|endoftext|>" and tok.pad_token != tok.eos_token
