"""``make demo``: the whole BioMatrix recipe on a CPU in a few minutes with the real Qwen3 tokenizer.

tiny base -> ``biomatrix extend`` -> demo corpus + three SMolInstruct tasks built from the test fixtures
(``biomatrix tasks build``) -> CPT (``llamafactory-cli train recipes/smoke/cpt.yaml``) -> SFT on the two
demo tasks and the built tasks (``recipes/smoke/sft.yaml``) -> ``biomatrix eval run`` on the built tasks
-> ``eval report`` (table + plot) -> a short generation, unwrapped -> loss-curve PNG.
Training runs through the stock ``llamafactory-cli`` in a subprocess, exactly as a user would launch it;
only paths, datasets and step counts are overridden on its command line.

The SMolInstruct raw files are the checkout's ``tests/tasks/fixtures`` (hand-written rows in the published
layout), read from the checkout rather than shipped in the wheel: the demo needs a checkout anyway (the
recipes), and fixtures are test data, not package data.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from biomatrix_plugin.cli_types import positive_int
from biomatrix_plugin.errors import USER_ERROR_EXIT, BioMatrixError, ConfigError
from biomatrix_plugin.paths import checkout_root

REPO = checkout_root() or Path.cwd()
# one task per read-out the tiny model can be scored on quickly: formula, label, first number
DEMO_TASKS = ("smolinstruct_s2f", "smolinstruct_bbbp", "smolinstruct_esol")
DEMO_VARIANTS = ("smiles",)
TASKS_SUBDIR = "tasks"  # under the dataset_dir: `tasks build --out`
N_STAGES = 8


def _stage(n: int, title: str) -> None:
    print(f"\n=== [{n}/{N_STAGES}] {title}", flush=True)


def fixtures_root() -> Path:
    """The SMolInstruct fixture raw root of the checkout (``--raw`` of ``tasks build``)."""
    root = checkout_root()
    path = (root / "tests" / "tasks" / "fixtures") if root else None
    if path is None or not (path / "smolinstruct" / "raw").is_dir():
        raise ConfigError("the demo builds its SMolInstruct tasks from tests/tasks/fixtures of a source "
                          "checkout; run it from a clone (`make demo`)")
    return path


def build_demo_tasks(dataset_dir: Path, task_ids=DEMO_TASKS, variants=DEMO_VARIANTS) -> dict:
    """``tasks build`` of the demo tasks into DATASET_DIR/tasks, their entries added to DATASET_DIR's
    dataset_info.json; returns {dataset name: train rows}."""
    from biomatrix_plugin.tasks.build import BuildOptions, build_tasks, dataset_info_entries
    from biomatrix_plugin.tasks.registry import TaskRegistry

    registry = TaskRegistry()
    tasks = [registry.get(t) for t in task_ids]
    out = dataset_dir / TASKS_SUBDIR
    manifests = build_tasks(tasks, BuildOptions(raw_root=fixtures_root(), out_dir=out, variants=tuple(variants),
                                                shards=1, progress=False, force=True))
    info_path = dataset_dir / "dataset_info.json"
    info = json.loads(info_path.read_text())
    rows = {}
    for task, manifest in zip(tasks, manifests):
        for name, entry in dataset_info_entries(task, tuple(variants)).items():
            # the built train file as is: every column has one type in every row (raw_output is always a
            # string), so LLaMA-Factory's JSON loader takes it and SFT reads the alpaca columns
            info[name] = {**entry, "file_name": str(Path(TASKS_SUBDIR) / entry["file_name"])}
        for variant in variants:
            rows[task.dataset_name(variant)] = manifest["rows"]["train"][variant]["rows"]
        print(f"{task.id}: records {manifest['records']}, rejects {manifest['rejects']}")
    info_path.write_text(json.dumps(info, indent=2) + "\n")
    return rows


def evaluate_demo_tasks(model_dir: Path, dataset_dir: Path, out_dir: Path, limit: int,
                        task_ids=DEMO_TASKS, variants=DEMO_VARIANTS) -> dict:
    """``eval run`` (HF backend, CPU, first ``limit`` test rows) then ``eval report`` on OUT_DIR."""
    from biomatrix_plugin.eval.report import write_report
    from biomatrix_plugin.eval.run import RunOptions, run_eval
    from biomatrix_plugin.tasks.registry import TaskRegistry

    registry = TaskRegistry()
    opts = RunOptions(model=model_dir, data_dir=dataset_dir / TASKS_SUBDIR, out_dir=out_dir, backend="hf",
                      variants=tuple(variants), limit=limit, device="cpu", batch_size=4)
    summaries = run_eval([registry.get(t) for t in task_ids], opts)
    md, png = write_report(out_dir)
    scores = {f"{s['task']}/{s['variant']}": {"results": s["results"], "rows": s["rows"],
                                               "unreadable": s["unreadable"], "metrics": s["metrics"]}
              for s in summaries}
    return {"report_md": str(md), "report_png": str(png), "tasks": scores}


def llamafactory_train(recipe: Path, log_file: Path, **overrides) -> Path:
    """Run ``llamafactory-cli train RECIPE key=value...``; return the output_dir. Raises with the log tail."""
    cli = Path(sys.executable).parent / "llamafactory-cli"
    cmd = [str(cli if cli.exists() else "llamafactory-cli"), "train", str(recipe)]
    cmd += [f"{k}={v}" for k, v in overrides.items()]
    env = {**os.environ, "DISABLE_VERSION_CHECK": "1", "TOKENIZERS_PARALLELISM": "false"}
    with open(log_file, "w") as log:
        proc = subprocess.run(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env)
    if proc.returncode != 0:
        tail = "".join(Path(log_file).read_text().splitlines(keepends=True)[-30:])
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}); log {log_file}:\n{tail}")
    return Path(overrides["output_dir"])


def loss_history(output_dir: Path) -> list[tuple[int, float]]:
    state = json.loads((Path(output_dir) / "trainer_state.json").read_text())
    return [(h["step"], h["loss"]) for h in state["log_history"] if "loss" in h]


def plot_losses(curves: dict[str, list[tuple[int, float]]], out_png: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 3.5))
    for ax, (name, points) in zip(axes if len(curves) > 1 else [axes], curves.items()):
        ax.plot([s for s, _ in points], [l for _, l in points], marker="o")
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    plt.close(fig)
    return out_png


def generate(model_dir: Path, prompt: str, max_new_tokens: int = 48) -> str:
    """Greedy answer through the evaluation core's Hugging Face backend (the same path as ``biomatrix eval``)."""
    from biomatrix_plugin.eval.generation import DecodingConfig, HFBackend, build_messages

    backend = HFBackend(model_dir, device="cpu", batch_size=1)
    return backend.generate([build_messages(prompt)], DecodingConfig.greedy(max_new_tokens))[0].texts[0]


def run_demo(workdir: Path, dataset_dir: Path, cpt_steps: int = 40, sft_steps: int = 40,
             n_molecules: int = 400, eval_limit: int = 2) -> dict:
    from biomatrix_plugin.demo.data import write_dataset_dir
    from biomatrix_plugin.model.extend import extend_model
    from biomatrix_plugin.model.tiny_base import build_tiny_base

    t0 = time.time()
    workdir, dataset_dir = Path(workdir), Path(dataset_dir)
    workdir.mkdir(parents=True, exist_ok=True)
    _stage(1, "tiny base: real Qwen3 BPE (from dashscope's qwen.tiktoken) + random 2-layer Qwen3")
    base = build_tiny_base(workdir / "tiny-base")
    _stage(2, "biomatrix extend: add the vocabulary with description-based initialization")
    report = extend_model(base, workdir / "tiny-extended")
    print(f"added {report.n_added} tokens at ids {report.first_new_id}..{report.last_new_id}; "
          f"rows {report.rows_before} -> {report.rows_after}")
    _stage(3, f"demo corpus: {n_molecules} NCI molecules (SMILES + SELFIES views) + sample proteins -> {dataset_dir}")
    counts = write_dataset_dir(dataset_dir, n_molecules=n_molecules)
    print(f"written {counts.written}, rejected {len(counts.rejected)}")
    for rid, reason in counts.rejected[:5]:
        print(f"  rejected {rid}: {reason}")
    _stage(4, f"biomatrix tasks build {','.join(DEMO_TASKS)} --raw tests/tasks/fixtures "
              f"--variant {','.join(DEMO_VARIANTS)}")
    task_rows = build_demo_tasks(dataset_dir)
    common = dict(dataset_dir=dataset_dir, overwrite_cache="true")
    _stage(5, f"CPT: llamafactory-cli train recipes/smoke/cpt.yaml ({cpt_steps} steps)")
    cpt = llamafactory_train(REPO / "recipes/smoke/cpt.yaml", workdir / "cpt.log",
                             model_name_or_path=workdir / "tiny-extended", output_dir=workdir / "cpt",
                             max_steps=cpt_steps, **common)
    sft_datasets = ["demo_sft_smiles2selfies", "demo_sft_protein_length", *task_rows]
    _stage(6, f"SFT: llamafactory-cli train recipes/smoke/sft.yaml ({sft_steps} steps) on {','.join(sft_datasets)}")
    sft = llamafactory_train(REPO / "recipes/smoke/sft.yaml", workdir / "sft.log", model_name_or_path=cpt,
                             output_dir=workdir / "sft", max_steps=sft_steps, dataset=",".join(sft_datasets),
                             **common)
    _stage(7, f"biomatrix eval run (--limit {eval_limit}) + eval report -> {workdir / 'eval'}")
    evaluation = evaluate_demo_tasks(sft, dataset_dir, workdir / "eval", eval_limit)
    _stage(8, "generate and unwrap; loss curves")
    result = _finish(workdir, cpt, sft, evaluation, task_rows)
    result["seconds"] = round(time.time() - t0, 1)
    (workdir / "demo_result.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


def _finish(workdir: Path, cpt: Path, sft: Path, evaluation: dict, task_rows: dict) -> dict:
    from biomatrix_plugin.modalities.serialization import unwrap, wrap_smiles

    prompt = f"Translate the molecule {wrap_smiles('CCO')} from SMILES into SELFIES."
    text = generate(sft, prompt)
    segments = [{"modality": s.modality, "value": s.value, "error": s.error} for s in unwrap(text).segments]
    curves = {"CPT": loss_history(cpt), "SFT": loss_history(sft)}
    png = plot_losses(curves, workdir / "loss_curves.png")
    return {
        "prompt": prompt, "generated": text, "segments": segments,
        "cpt_loss_first_last": [curves["CPT"][0][1], curves["CPT"][-1][1]],
        "sft_loss_first_last": [curves["SFT"][0][1], curves["SFT"][-1][1]],
        "loss_plot": str(png), "sft_task_datasets": task_rows,
        "report": {"markdown": evaluation["report_md"], "png": evaluation["report_png"]},
        "tasks": evaluation["tasks"],
    }




def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", default=str(REPO / "runs" / "demo"))
    p.add_argument("--dataset-dir", default=None, help="LLaMA-Factory dataset_dir to write (default WORKDIR/data)")
    p.add_argument("--cpt-steps", type=positive_int, default=40)
    p.add_argument("--sft-steps", type=positive_int, default=40)
    p.add_argument("--eval-limit", type=positive_int, default=2, help="test rows per demo task for eval run")
    args = p.parse_args(argv)
    args.dataset_dir = args.dataset_dir or str(Path(args.workdir) / "data")
    try:
        run_demo(Path(args.workdir), Path(args.dataset_dir), args.cpt_steps, args.sft_steps,
                 eval_limit=args.eval_limit)
    except BioMatrixError as exc:  # a user's setup problem (no checkout, missing data): said, exit 2
        print(f"error: {exc}", file=sys.stderr)
        return USER_ERROR_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(main())
