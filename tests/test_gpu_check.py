"""scripts/gpu_check.py (`make gpu-check`): without a GPU it stops at once (exit 2, a clear message, nothing
run); its derived recipes carry the GPU settings and otherwise pass LLaMA-Factory's parser. The GPU paths
themselves need a GPU and are not run here."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "gpu_check.py"


def _module():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_no_gpu_exits_2_at_once(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # hides a GPU too, so the result is the same anywhere
    start = time.time()
    proc = subprocess.run([sys.executable, str(SCRIPT), "--work", str(tmp_path / "w")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert time.time() - start < 30
    assert "gpu-check: no GPU visible (CUDA_VISIBLE_DEVICES is empty)" in proc.stderr
    assert "Nothing was run" in proc.stderr and "Traceback" not in proc.stderr and proc.stdout == ""
    assert not (tmp_path / "w").exists(), "no work folder, no model built"


def test_plan_lists_every_path(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--plan", "--work", str(tmp_path)],
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    names = [line.split(":")[0] for line in proc.stdout.splitlines()]
    assert names == ["model", "data", "train cpt (fa2, liger, zero2, bf16)", "train sft (fa2, liger, zero2, bf16)",
                     "eval run smolinstruct_esol (vllm)", "eval run smolinstruct_bbbp (vllm)"]
    assert "--backend vllm" in proc.stdout and "--hidden 256" in proc.stdout


def test_derived_recipes_have_the_gpu_settings_and_pass_the_parser(tmp_path, tiny_extended_model, monkeypatch):
    from llamafactory.hparams import get_train_args

    gpu_check = _module()
    monkeypatch.chdir(REPO)
    for smoke, per_device in (("cpt.yaml", 4), ("sft.yaml", 1)):
        cfg = gpu_check.derived_recipe(smoke, tiny_extended_model, tmp_path / "out", 8, per_device)
        assert {k: cfg[k] for k in gpu_check.GPU_SETTINGS} == gpu_check.GPU_SETTINGS and "use_cpu" not in cfg
        assert (REPO / cfg["deepspeed"]).is_file()
        assert cfg["max_steps"] == 8 and cfg["include_num_input_tokens_seen"] is True
        smoke_cfg = yaml.safe_load((REPO / "recipes" / "smoke" / smoke).read_text())
        assert cfg["dataset"] == smoke_cfg["dataset"] and cfg["stage"] == smoke_cfg["stage"]
        cfg.update(deepspeed=None, enable_liger_kernel=False, bf16=False, flash_attn="auto", use_cpu=True)
        _, _, training_args, finetuning_args, _ = get_train_args(cfg)  # a typo in an added key fails here
        assert finetuning_args.stage == smoke_cfg["stage"] and training_args.max_steps == 8


def test_training_speed_reads_the_trainer_outputs(tmp_path):
    gpu_check = _module()
    (tmp_path / "trainer_state.json").write_text('{"log_history": [{"num_input_tokens_seen": 100}, '
                                                 '{"num_input_tokens_seen": 4000, "loss": 1.0}]}')
    (tmp_path / "all_results.json").write_text('{"train_runtime": 2.0}')
    assert gpu_check.training_speed(tmp_path)() == 2000.0
    assert gpu_check.training_speed(tmp_path / "missing")() is None
