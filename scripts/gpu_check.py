#!/usr/bin/env python
"""``make gpu-check``: the GPU-only paths, on a machine with one GPU, in under 10 minutes.

1. a few steps of the smoke CPT recipe and 2. of the smoke SFT recipe, each with ``flash_attn: fa2``, Liger
   kernels, DeepSpeed ZeRO-2 (recipes/deepspeed/ds_z2_bf16.json) and bf16, through ``llamafactory-cli train``
   under torchrun (one process), on a tiny extended model (``biomatrix tiny-base --hidden 256``: head_dim 64,
   which flash-attn and vLLM support; the test-suite's 64-wide model has head_dim 16);
3. ``biomatrix eval run`` with the vLLM backend on two SMolInstruct tasks built from the shipped fixtures.

Prints PASS/FAIL per path with tokens/s (training: input tokens seen / train runtime; eval: n/a unless the
run reports it) and the peak GPU memory (polled with nvidia-smi, so it covers every process, vLLM included).
Exit 0 when every path passes, 1 when one fails, 2 at once when no GPU is visible (nothing else is run).
``--plan`` prints the steps and the derived recipes without a GPU and without running them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
NO_GPU_EXIT = 2
BUDGET_S = 570  # the whole check, under 10 minutes
EVAL_TASKS = ("smolinstruct_esol", "smolinstruct_bbbp")
GPU_SETTINGS = {"flash_attn": "fa2", "enable_liger_kernel": True, "deepspeed": "recipes/deepspeed/ds_z2_bf16.json",
                "bf16": True}


def gpu_count() -> tuple[int, str]:
    """(visible CUDA devices, why none) without starting CUDA work; torch is imported only here."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "":
        return 0, "CUDA_VISIBLE_DEVICES is empty"
    try:
        import torch
    except ImportError:
        return 0, "torch is not installed"
    if not torch.cuda.is_available():
        return 0, "torch.cuda.is_available() is False (no NVIDIA GPU or driver)"
    return torch.cuda.device_count(), ""


class MemoryPoller:
    """Peak used memory of GPU 0 (MiB) while a step runs, by polling nvidia-smi twice a second."""

    def __init__(self):
        self.peak = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int | None:
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i",
                                  "0"], capture_output=True, text=True, timeout=5).stdout.strip()
            return int(out.splitlines()[0])
        except (OSError, subprocess.SubprocessError, ValueError, IndexError):
            return None

    def _run(self) -> None:
        while not self._stop.is_set():
            used = self._sample()
            if used is not None:
                self.peak = max(self.peak or 0, used)
            self._stop.wait(0.5)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=6)


@dataclass
class Result:
    path: str
    ok: bool
    seconds: float
    tokens_per_s: float | None = None
    peak_mib: int | None = None
    detail: str = ""


@dataclass
class Step:
    name: str
    command: list[str]
    timeout: int
    env: dict = field(default_factory=dict)
    read_speed: object = None  # callable () -> tokens/s or None


def derived_recipe(smoke: str, model: Path, out: Path, max_steps: int, per_device: int) -> dict:
    """A smoke recipe with the GPU settings of the production recipes, a few steps, the given model."""
    import yaml

    cfg = yaml.safe_load((REPO / "recipes" / "smoke" / smoke).read_text())
    cfg.pop("use_cpu", None)
    cfg.update(GPU_SETTINGS, model_name_or_path=str(model), output_dir=str(out), max_steps=max_steps,
               per_device_train_batch_size=per_device, logging_steps=1, save_strategy="no",
               include_num_input_tokens_seen=True, dataset_dir=str(REPO / "data_registry"))
    return cfg


def training_speed(out: Path):
    """tokens/s from the trainer's state: input tokens seen (last log) / train runtime."""
    def read() -> float | None:
        try:
            state = json.loads((out / "trainer_state.json").read_text())
            results = json.loads((out / "all_results.json").read_text())
        except (OSError, ValueError):
            return None
        seen = [h["num_input_tokens_seen"] for h in state.get("log_history", []) if "num_input_tokens_seen" in h]
        runtime = results.get("train_runtime")
        return seen[-1] / runtime if seen and runtime else None
    return read


def plan(work: Path) -> list[Step]:
    import yaml

    biomatrix, env = str(BIN / "biomatrix"), {"PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    tiny, extended = work / "tiny-base", work / "tiny-extended"
    steps = [
        Step("model: tiny base + extend", ["bash", "-c", f"{biomatrix} tiny-base --out {tiny} --hidden 256 && "
                                          f"{biomatrix} extend --base {tiny} --out {extended}"], 120, env),
        Step("data: demo CPT/SFT + two SMolInstruct tasks", ["bash", "-c", " && ".join([
            f"{BIN / 'python'} -c \"from biomatrix_plugin.demo.data import build_demo_data as b; "
            f"b('data_registry/demo')\"",
            *(f"{biomatrix} tasks build {task} --raw {REPO}/tests/tasks/fixtures --out {work}/tasks --quiet"
              for task in EVAL_TASKS)])], 120, env),
    ]
    train = {"FORCE_TORCHRUN": "1", "NPROC_PER_NODE": "1", **env}
    for name, smoke, per_device in (("cpt", "cpt.yaml", 4), ("sft", "sft.yaml", 1)):  # fa2 + neat packing: 1
        out = work / name
        cfg_path = work / f"{name}.yaml"
        cfg_path.write_text(yaml.safe_dump(derived_recipe(smoke, extended, out, 8, per_device)))
        steps.append(Step(f"train {name} (fa2, liger, zero2, bf16)", [str(BIN / "llamafactory-cli"), "train",
                                                                        str(cfg_path)], 180, train,
                          training_speed(out)))
    for task in EVAL_TASKS:
        steps.append(Step(f"eval run {task} (vllm)", [biomatrix, "eval", "run", task, "--model", str(work / "sft"),
                                                      "--data", str(work / "tasks"), "--out", str(work / "eval"),
                                                      "--backend", "vllm", "--limit", "8"], 150, env))
    return steps


def run_step(step: Step, deadline: float) -> Result:
    left = int(deadline - time.time())
    if left < 20:
        return Result(step.name, False, 0.0, detail="not run: the 10-minute budget is spent")
    start = time.time()
    env = {**os.environ, **step.env}
    with MemoryPoller() as mem:
        try:
            proc = subprocess.run(step.command, cwd=REPO, env=env, capture_output=True, text=True,
                                  timeout=min(step.timeout, left))
            ok, detail = proc.returncode == 0, (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
            detail = "" if ok else f"exit {proc.returncode}: {detail[0][:160]}"
        except subprocess.TimeoutExpired:
            ok, detail = False, f"timed out after {min(step.timeout, left)} s"
    speed = step.read_speed() if ok and step.read_speed else None
    return Result(step.name, ok, time.time() - start, speed, mem.peak, detail)


def format_results(results: list[Result]) -> str:
    lines = [f"{'path':44} {'result':6} {'seconds':>8} {'tokens/s':>10} {'peak GPU MiB':>13}  detail"]
    for r in results:
        tps = f"{r.tokens_per_s:,.0f}" if r.tokens_per_s else "n/a"
        mem = f"{r.peak_mib:,}" if r.peak_mib is not None else "n/a"
        lines.append(f"{r.path:44} {'PASS' if r.ok else 'FAIL':6} {r.seconds:>8.1f} {tps:>10} {mem:>13}  {r.detail}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plan", action="store_true", help="print the steps (no GPU needed, nothing is run)")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    if not args.plan:
        count, why = gpu_count()
        if count == 0:
            print(f"gpu-check: no GPU visible ({why}); this check needs one NVIDIA GPU with bf16. "
                  "Nothing was run. On a CPU, `make demo` runs the smoke recipes instead.", file=sys.stderr)
            return NO_GPU_EXIT
    work = args.work or Path(tempfile.mkdtemp(prefix="biomatrix-gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        steps = plan(work)
        if args.plan:
            for step in steps:
                print(f"{step.name}: {' '.join(step.command)} (timeout {step.timeout} s)")
            return 0
        deadline, results = time.time() + BUDGET_S, []
        for step in steps:
            results.append(run_step(step, deadline))
            print(format_results(results[-1:]).splitlines()[1], flush=True)
            if not results[-1].ok and step.name.startswith(("model", "data")):
                break  # nothing after it can run
        print(format_results(results))
        return 0 if len(results) == len(steps) and all(r.ok for r in results) else 1
    finally:
        if not (args.keep or args.work):
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
