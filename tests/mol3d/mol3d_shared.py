"""Helpers shared by the mol3d tests: paths to ../shared material, skipping when it is absent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
GOLDEN = SHARED / "golden" / "molstructok" / "reference_codes.jsonl"
CHECKPOINT = SHARED / "reference" / "molstructok_vqvae.bin"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} not found: this test needs the project's ../shared reference material")
    return path


def golden_records() -> list[dict]:
    with open(need(GOLDEN), encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def tokenizer():
    from biomatrix_plugin.mol3d import get_tokenizer

    return get_tokenizer(str(need(CHECKPOINT)))
