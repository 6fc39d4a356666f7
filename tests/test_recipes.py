"""Every recipe: launch comment, datasets registered, and LLaMA-Factory's own argument parser accepts it.

GPU-only switches (DeepSpeed, Liger, bf16 on a CPU) cannot be instantiated here; they are checked
statically (the DeepSpeed JSON parses, the batch arithmetic in the comment holds) and switched off for
the parser run. Everything else goes through ``llamafactory.hparams.get_train_args`` unchanged.
"""

import json
import os
import re
import subprocess
import sys
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
    m = re.search(r"Global batch ([\d,]+) = per_device_train_batch_size (\d+) x "
                  r"gradient_accumulation_steps (\d+) x (\d+) GPUs", text)
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


# --- pre-flight (issue 10 §1): a machine that cannot launch a recipe is told so before LLaMA-Factory starts


def _no_gpu_env(tmp_path: Path) -> dict:
    # CUDA_VISIBLE_DEVICES="" hides any GPU, so the no-GPU path is the same on a GPU machine
    env = {k: v for k, v in os.environ.items() if k not in ("NPROC_PER_NODE", "VIRTUAL_ENV")}
    env.update(CUDA_VISIBLE_DEVICES="", PATH="/usr/bin:/bin", HOME=str(tmp_path))
    return env


def test_make_cpt_without_gpu_stops_in_preflight(tmp_path):
    """`make cpt` on a CPU: exit 2 with the list of what is missing and the smoke recipes, instead of
    LLaMA-Factory's `--nproc_per_node 0` AssertionError; torchrun resolves to the environment's (PATH)."""
    venv = Path(sys.executable).parent.parent
    proc = subprocess.run(["make", "-o", "install", "cpt", f"VENV={venv}"], cwd=REPO, env=_no_gpu_env(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = proc.stderr
    assert "cpt] Error 2" in err, "the pre-flight itself exits 2 (make exits 2 for any failure)"
    assert "error: recipes/cpt_4b.yaml cannot be launched on this machine:" in err
    assert "no GPU visible (CUDA_VISIBLE_DEVICES='')" in err and "recipes/smoke/cpt.yaml" in err
    assert "make demo-data" in err
    assert "first on PATH" not in err, "make cpt puts the environment's bin first on PATH"
    assert "llamafactory-cli train" not in proc.stdout.splitlines()[-1], "the launch must not start"
    assert "Traceback" not in err


def test_preflight_cli_finds_torchrun_off_path(tmp_path, capsys, monkeypatch):
    """Without the environment's bin on PATH (calling .venv/bin/biomatrix from outside the venv), the
    torchrun LLaMA-Factory would start is not this environment's: reported, with the fix."""
    from biomatrix_plugin.cli import main

    monkeypatch.chdir(REPO)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert main(["preflight", "recipes/sft_4b.yaml"]) == 2
    err = capsys.readouterr().err
    assert f"put {Path(sys.executable).parent} first on PATH" in err
    assert err.startswith("error: recipes/sft_4b.yaml cannot be launched") and "Traceback" not in err


def test_preflight_smoke_recipe_needs_demo_data(tmp_path, monkeypatch):
    from biomatrix_plugin.llamafactory.preflight import Machine, preflight

    monkeypatch.chdir(REPO)
    machine = Machine(gpu_info=lambda: (0, False))
    problems = preflight("recipes/smoke/cpt.yaml", machine)
    if (REPO / "data_registry" / "demo" / "cpt_demo.jsonl").exists():
        assert not any("dataset" in p for p in problems)
    else:
        assert any("demo_cpt (demo/cpt_demo.jsonl)" in p and "make demo-data" in p for p in problems)
    assert not any("GPU" in p or "torchrun" in p for p in problems), "a use_cpu recipe needs neither"


def test_preflight_ready_machine(tmp_path, monkeypatch):
    """What cannot exist here (8 bf16 GPUs, the GPU packages) is described by a Machine; everything else is
    the real check: a production recipe with its model and data in place is ready."""
    from biomatrix_plugin.llamafactory.preflight import Machine, preflight, require_ready

    cfg = yaml.safe_load((REPO / "recipes" / "sft_4b.yaml").read_text())
    (tmp_path / "ds.json").write_text("{}")
    (tmp_path / "model").mkdir()
    (tmp_path / "data").mkdir()
    names = [n.strip() for n in cfg["dataset"].split(",")]
    (tmp_path / "data" / "dataset_info.json").write_text(json.dumps({n: {"file_name": f"{n}.jsonl"} for n in names}))
    for n in names:
        (tmp_path / "data" / f"{n}.jsonl").write_text("{}\n")
    cfg.update(deepspeed=str(tmp_path / "ds.json"), model_name_or_path=str(tmp_path / "model"),
               dataset_dir=str(tmp_path / "data"))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(cfg))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "torchrun").write_text("#!/bin/sh\n")
    (bin_dir / "torchrun").chmod(0o755)
    machine = Machine(gpu_info=lambda: (8, True), has_module=lambda name: True, env_bin=bin_dir,
                      environ={"PATH": f"{bin_dir}:/usr/bin", "NPROC_PER_NODE": "8"})
    assert preflight(recipe, machine) == []
    require_ready(recipe, machine)
    machine.environ["NPROC_PER_NODE"] = "16"
    assert preflight(recipe, machine) == ["NPROC_PER_NODE=16, but only 8 GPU(s) are visible"]
    machine.environ["NPROC_PER_NODE"] = "8"
    machine.gpu_info = lambda: (8, False)
    assert [p.split(":")[0] for p in preflight(recipe, machine)] == ["bf16"]


def test_preflight_bad_recipe_is_a_user_error(tmp_path, capsys):
    from biomatrix_plugin.cli import main

    assert main(["preflight", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml: no such recipe" in capsys.readouterr().err
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    assert main(["preflight", str(tmp_path / "list.yaml")]) == 2
    assert "a recipe is a YAML mapping" in capsys.readouterr().err
