"""Shared by the OPI / Mol-Instructions / MegaScience tests: an oracle backend, row I/O, task lookup."""

from __future__ import annotations

import json
from pathlib import Path

from biomatrix_plugin.eval.generation import Generation
from biomatrix_plugin.tasks.registry import TaskRegistry

FIXTURES = Path(__file__).resolve().parent / "fixtures"
def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


class Oracle:
    """Answers each test prompt with its row's gold answer (bare: the readouts under test read it whole)."""

    def __init__(self, built: Path):
        self.answers = {}
        for path in built.glob("*/*/test.jsonl"):
            for row in rows(path):
                content = row["instruction"] if not row["input"] else f"{row['instruction']}\n{row['input']}"
                self.answers[content] = row["answer"]

    def generate(self, prompts, config):
        return [Generation([self.answers[m[-1]["content"]]]) for m in prompts]


def model_dir(tmp_path: Path) -> Path:
    path = tmp_path / "model"
    path.mkdir()
    (path / "config.json").write_text('{"model_type": "qwen3"}\n')
    (path / "model.safetensors").write_bytes(b"weights" * 100)
    return path


def results(out: Path) -> dict:
    found = {}
    for path in out.glob("*/*/results.jsonl"):
        for r in rows(path):
            found[(r["task"], r["metric"])] = r
    return found


def tasks(*ids: str):
    registry = TaskRegistry()
    return [registry.get(t) for t in ids]
