"""Shared fixtures: the real Qwen3 tokenizer, the tiny base model and its extended version.

Built once per test session (about 20 s on 2 cores) into a temporary directory.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


def shared_path(*parts: str) -> Path:
    """A file under ../shared, or skip the test saying what is missing (a user's clone has no ../shared)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not found: this test needs the project's ../shared reference material")
    return path


@pytest.fixture(scope="session")
def qwen3_tokenizer():
    from biomatrix_plugin.model.tiny_base import build_qwen3_tokenizer

    return build_qwen3_tokenizer()


@pytest.fixture(scope="session")
def tiny_base_dir(tmp_path_factory, qwen3_tokenizer) -> Path:
    from biomatrix_plugin.model.tiny_base import build_tiny_base

    return build_tiny_base(tmp_path_factory.mktemp("tiny_base"), tokenizer=qwen3_tokenizer)


@pytest.fixture(scope="session")
def tiny_extended_model(tmp_path_factory, tiny_base_dir) -> Path:
    """HF directory: real Qwen3 BPE + the project's vocabulary (tokenizer_ext/) + tiny random Qwen3."""
    from biomatrix_plugin.model.extend import extend_model

    out = tmp_path_factory.mktemp("tiny_extended")
    extend_model(tiny_base_dir, out, seed=0)
    return out


@pytest.fixture(scope="session")
def extended_tokenizer(tiny_extended_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_extended_model)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
