"""End to end through the stock ``llamafactory-cli``: extend -> corpus + SMolInstruct tasks built from the
fixtures -> CPT -> SFT (demo tasks + built tasks) -> eval run -> eval report -> generate -> unwrap."""

import json

import pytest


@pytest.mark.slow
def test_demo_pipeline_trains_and_generates(tmp_path):
    from biomatrix_plugin.demo.run import run_demo
    from biomatrix_plugin.modalities.serialization import unwrap

    result = run_demo(tmp_path / "work", tmp_path / "data", cpt_steps=16, sft_steps=16, n_molecules=150)
    cpt_first, cpt_last = result["cpt_loss_first_last"]
    sft_first, sft_last = result["sft_loss_first_last"]
    assert cpt_last < cpt_first - 1.0, "CPT loss did not go down"
    assert sft_last < sft_first, "SFT loss did not go down"
    # the biomatrix formatting serialized raw SMILES at load time inside llamafactory-cli
    sft_log = (tmp_path / "work" / "sft.log").read_text()
    assert "<|mol_smi_start|>" in sft_log and "<|mol_sfi_start|>" in sft_log
    # the trained model keeps the extended vocabulary and generation output goes through unwrap
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tmp_path / "work" / "sft")
    assert tok.convert_tokens_to_ids("<A W>") > 151_668
    parsed = unwrap(result["generated"])
    assert [s["modality"] for s in result["segments"]] == [s.modality for s in parsed.segments]
    assert (tmp_path / "work" / "loss_curves.png").stat().st_size > 10_000
    saved = json.loads((tmp_path / "work" / "demo_result.json").read_text())
    assert saved["generated"] == result["generated"]
    _check_tasks_and_report(tmp_path, saved, sft_log)


def _check_tasks_and_report(tmp_path, saved, sft_log):
    from biomatrix_plugin.demo.run import DEMO_TASKS, DEMO_VARIANTS
    from biomatrix_plugin.tasks.registry import TaskRegistry

    # the built task datasets were registered and trained on in the SFT run
    info = json.loads((tmp_path / "data" / "dataset_info.json").read_text())
    names = [f"{t}_{v}" for t in DEMO_TASKS for v in DEMO_VARIANTS]
    assert set(names) <= set(info) and set(saved["sft_task_datasets"]) == set(names)
    assert all(saved["sft_task_datasets"][n] > 0 for n in names)
    assert all(f"Loading dataset {info[n]['file_name']}" in sft_log for n in names)
    # every demo task/variant has a results file with its task file's metrics, and the report lists them
    registry = TaskRegistry()
    report_md = tmp_path / "work" / "eval" / "report.md"
    report_png = tmp_path / "work" / "eval" / "report.png"
    assert saved["report"] == {"markdown": str(report_md), "png": str(report_png)}
    assert report_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and report_png.stat().st_size > 5_000
    md = report_md.read_text()
    for task_id in DEMO_TASKS:
        wanted = [m["name"] for m in registry.get(task_id)["eval"]["metrics"]]
        for variant in DEMO_VARIANTS:
            results = tmp_path / "work" / "eval" / task_id / variant / "results.jsonl"
            lines = [json.loads(line) for line in results.read_text().splitlines()]
            assert [r["metric"] for r in lines] == wanted
            assert all(r["n_items"] == 2 for r in lines)
            score = saved["tasks"][f"{task_id}/{variant}"]
            assert set(score["metrics"]) == set(wanted) and score["results"] == str(results)
            assert any(line.startswith(f"| {task_id} | {variant} |") for line in md.splitlines())
