"""``biomatrix preflight RECIPE``: can this machine launch the recipe? Checked before ``make cpt``/``make sft``.

Without it a CPU machine gets through LLaMA-Factory's start-up and then fails deep inside: ``torchrun`` is
looked up on ``PATH`` (not in the environment that has the plugin hook), and ``NPROC_PER_NODE`` defaults to
the GPU count, so ``--nproc_per_node 0`` ends in an AssertionError. This reads the recipe and lists every
missing piece at once: visible GPUs (and bf16 support when the recipe asks for it), the packages its
options need (flash-attn, DeepSpeed and its config, Liger kernels), the environment's ``torchrun`` first on
``PATH``, the model folder and the built datasets. Each problem says how to fix it, and the report points
at ``recipes/smoke/`` for a CPU. Imports: the base layer only (torch lazily, for the GPU count).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from biomatrix_plugin.errors import ConfigError, InputFileError

# recipe option -> (importable module, pip package) it needs when set
OPTION_PACKAGES = {
    "flash_attn": ("flash_attn", "flash-attn"),
    "deepspeed": ("deepspeed", "deepspeed"),
    "enable_liger_kernel": ("liger_kernel", "liger-kernel"),
}
SMOKE_HINT = ("for a CPU, run the smoke recipes instead (`make demo-data` first, then "
              "`llamafactory-cli train recipes/smoke/cpt.yaml` and `recipes/smoke/sft.yaml`; `make demo` runs it all)")


class PreflightError(ConfigError):
    """The recipe cannot be launched on this machine; the message lists every missing piece."""


def _gpu_info() -> tuple[int, bool]:
    """(visible CUDA devices, whether all of them support bf16); (0, False) without a usable torch."""
    try:
        import torch
    except ImportError:
        return 0, False
    count = torch.cuda.device_count()
    return count, bool(count) and torch.cuda.is_bf16_supported()


@dataclass
class Machine:
    """What the checks read from the machine; the defaults look at the real one (tests replace what cannot
    exist here, e.g. a GPU)."""

    gpu_info: Callable[[], tuple[int, bool]] = _gpu_info
    has_module: Callable[[str], bool] = lambda name: importlib.util.find_spec(name) is not None
    env_bin: Path = field(default_factory=lambda: Path(sys.executable).parent)
    environ: dict = field(default_factory=lambda: dict(os.environ))

    def which(self, program: str) -> str | None:
        return shutil.which(program, path=self.environ.get("PATH", ""))


def load_recipe(path: str | os.PathLike) -> dict:
    from biomatrix_plugin.schema import load_yaml

    recipe = Path(path)
    if not recipe.is_file():
        raise InputFileError(f"{recipe}: no such recipe (the recipes are in recipes/, CPU ones in recipes/smoke/)")
    data = load_yaml(recipe)  # the project's YAML reader: invalid YAML or non-UTF-8 text names the recipe
    if not isinstance(data, dict):
        raise ConfigError(f"{recipe}: a recipe is a YAML mapping of LLaMA-Factory options")
    return data


def _check_gpus(recipe: dict, machine: Machine) -> list[str]:
    if recipe.get("use_cpu"):
        return []
    count, bf16 = machine.gpu_info()
    problems = []
    visible = machine.environ.get("CUDA_VISIBLE_DEVICES")
    if count == 0:
        where = f" (CUDA_VISIBLE_DEVICES={visible!r})" if visible is not None else ""
        problems.append(f"no GPU visible{where}: LLaMA-Factory would start torchrun with --nproc_per_node 0")
    elif recipe.get("bf16") and not bf16:
        problems.append("bf16: true, but the visible GPUs do not support bfloat16 (set fp16: true, or use A100/H100)")
    nproc = machine.environ.get("NPROC_PER_NODE")
    if count and nproc and nproc.isdigit() and int(nproc) > count:
        problems.append(f"NPROC_PER_NODE={nproc}, but only {count} GPU(s) are visible")
    return problems


def _check_packages(recipe: dict, machine: Machine) -> list[str]:
    problems = []
    for option, (module, package) in OPTION_PACKAGES.items():
        value = recipe.get(option)
        if value in (None, False, "disabled", "auto", "sdpa", "eager"):  # flash_attn: auto/sdpa/eager need none
            continue
        if not machine.has_module(module):
            problems.append(f"{option}: {json.dumps(value)} needs {package}, which is not installed "
                            f"(pip install -e \".[gpu]\" installs flash-attn, deepspeed and liger-kernel)")
    config = recipe.get("deepspeed")
    if isinstance(config, str) and not Path(config).is_file():
        problems.append(f"deepspeed: {config}: no such file (paths are relative to the folder you launch from)")
    return problems


def _check_torchrun(machine: Machine) -> list[str]:
    own = machine.env_bin / "torchrun"
    if not own.is_file():
        return [f"no torchrun in this environment ({own}); torch is not installed there"]
    found = machine.which("torchrun")
    if found is None or Path(found).resolve() != own.resolve():
        seen = f"PATH finds {found}" if found else "torchrun is not on PATH"
        return [f"{seen}, not this environment's {own}: LLaMA-Factory runs `torchrun` from PATH, and only this "
                f"environment has the plugin hook; put {machine.env_bin} first on PATH (make cpt/sft do)"]
    return []


def _looks_local(name: str) -> bool:
    """A folder rather than a hub id (``org/name``): absolute, relative with ./, under runs/ (where
    ``biomatrix extend`` and the recipes write), deeper than org/name, or inside an existing folder."""
    parts = Path(name).parts
    return (Path(name).is_absolute() or name.startswith(".") or len(parts) != 2 or parts[0] == "runs"
            or Path(parts[0]).is_dir())


def _check_inputs(recipe: dict) -> list[str]:
    problems = []
    model = recipe.get("model_name_or_path")
    if isinstance(model, str) and _looks_local(model) and not Path(model).exists():
        problems.append(f"model_name_or_path: {model}: no such folder (`biomatrix extend` makes the initial "
                        f"model, a previous stage's output_dir the next; or append model_name_or_path=/path)")
    names = [n.strip() for key in ("dataset", "eval_dataset") for n in str(recipe.get(key) or "").split(",")]
    names = [n for n in names if n]
    if not names:
        return problems
    dataset_dir = Path(str(recipe.get("dataset_dir", "data")))
    info_path = dataset_dir / "dataset_info.json"
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [*problems, f"dataset_dir: {info_path}: cannot read it ({exc})"]
    unknown = [n for n in names if n not in info]
    if unknown:
        problems.append(f"datasets not in {info_path}: {', '.join(unknown)}")
    files = {n: info[n]["file_name"] for n in names
             if n in info and "file_name" in info[n] and not (dataset_dir / info[n]["file_name"]).exists()}
    missing = [f"{n} ({f})" for n, f in files.items()]
    if missing:
        fix = _build_hint(list(files.values()), dataset_dir)
        shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
        problems.append(f"{len(missing)} dataset(s) not built under {dataset_dir}/: {shown}; {fix}")
    return problems


# the layout `biomatrix tasks build --out DIR` registers: DIR/<task>/<variant>/train.jsonl
_TASK_TRAIN_FILE = re.compile(r"([a-z0-9][a-z0-9_]*)/(?:smiles|selfies|default)/train\.jsonl")
RELEASED_SFT_URL = "https://huggingface.co/datasets/QizhiPei/BioMatrix-SFT"


def _build_hint(files: list[str], dataset_dir: Path) -> str:
    """The command that builds (or the place to download) the missing dataset files."""
    if all(f.startswith("demo/") for f in files):
        return "`make demo-data` writes the demo ones"
    tasks = [m.group(1) for m in map(_TASK_TRAIN_FILE.fullmatch, files) if m]
    if len(tasks) == len(files):
        selector = tasks[0] if len(set(tasks)) == 1 else "all"
        return (f"build them with `biomatrix tasks build {selector} --raw RAW_ROOT --out {dataset_dir}` (RAW_ROOT: "
                f"each source unpacked as published; `make sft-data RAW=RAW_ROOT` builds every task)")
    if all(f.startswith("biomatrix_sft/") for f in files):
        return (f"download {RELEASED_SFT_URL} so that each config's parquet files are in "
                f"{dataset_dir}/biomatrix_sft/<config>/")
    return ("build them with `biomatrix corpus build data_registry/cards/<name>.yaml --data-root DIR "
            "--out data_registry/corpus`")


def preflight(recipe_path: str | os.PathLike, machine: Machine | None = None) -> list[str]:
    """Every problem that would stop ``llamafactory-cli train RECIPE`` here (empty: ready to launch)."""
    machine = machine or Machine()
    recipe = load_recipe(recipe_path)
    problems = [*_check_gpus(recipe, machine), *_check_packages(recipe, machine)]
    if not recipe.get("use_cpu"):  # CPU recipes run in-process, without torchrun
        problems += _check_torchrun(machine)
    return problems + _check_inputs(recipe)


def require_ready(recipe_path: str | os.PathLike, machine: Machine | None = None) -> None:
    """Raise :class:`PreflightError` listing every problem, or return when the recipe can launch."""
    problems = preflight(recipe_path, machine)
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        hint = "" if load_recipe(recipe_path).get("use_cpu") else f"\n{SMOKE_HINT}"
        raise PreflightError(f"{recipe_path} cannot be launched on this machine:\n{lines}{hint}")
