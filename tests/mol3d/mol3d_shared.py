"""Helpers shared by the mol3d tests: the reference checkpoint and golden codes, skipping (naming the
missing path) when they are absent. The lookup is conftest's (``$BIOMATRIX_REFERENCE_DIR``, else
``../shared/reference``), so pointing that variable at an empty folder shows what a user's clone runs."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import golden_file, reference_file

REPO = Path(__file__).resolve().parents[2]


def checkpoint() -> Path:
    """The project's reference MolStrucTok checkpoint, or skip naming where it was looked for."""
    return reference_file("molstructok_vqvae.bin")


def golden_records() -> list[dict]:
    with open(golden_file("molstructok", "reference_codes.jsonl"), encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def tokenizer():
    from biomatrix_plugin.mol3d import get_tokenizer

    return get_tokenizer(str(checkpoint()))
