"""Shared fixtures: the real Qwen3 tokenizer, the tiny base model and its extended version, and the lookup
of the project's reference material.

Models are built once per test session (about 20 s on 2 cores) into a temporary directory.

Reference material (tech report, tokenizer vectors, MolStrucTok checkpoint, golden codes) is not part of the
repository: a user's clone has none, so a test that needs a file asks for it here and is skipped, naming the
missing path, when it is absent. The lookup goes through :func:`biomatrix_plugin.paths.reference_dir`
(``$BIOMATRIX_REFERENCE_DIR``, else ``../shared/reference`` beside the checkout); golden files live in the
``golden/`` folder beside it. CI runs the fast tests once more with ``BIOMATRIX_REFERENCE_DIR`` pointing at
an empty folder to prove a clone without the material passes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from biomatrix_plugin.paths import REFERENCE_ENV, reference_dir

REPO = Path(__file__).resolve().parent.parent


def _missing(what: str) -> str:
    return (f"{what} not found: this test needs the project's reference material "
            f"(${REFERENCE_ENV}, else ../shared/reference beside the checkout; see README 'External files')")


def reference_file(*parts: str) -> Path:
    """``<reference_dir>/<parts>``, or skip the test naming the missing path."""
    root = reference_dir()
    if root is None:
        pytest.skip(_missing(f"reference folder (for {'/'.join(parts)})"))
    path = root.joinpath(*parts)
    if not path.exists():
        pytest.skip(_missing(str(path)))
    return path


def golden_file(*parts: str) -> Path:
    """``<reference_dir>/../golden/<parts>`` (expected outputs of the released tools), or skip naming it."""
    root = reference_dir()
    if root is None:
        pytest.skip(_missing(f"golden folder (for {'/'.join(parts)})"))
    path = root.parent.joinpath("golden", *parts)
    if not path.exists():
        pytest.skip(_missing(str(path)))
    return path


def shared_path(*parts: str) -> Path:
    """Compatibility for ``shared_path("reference", ...)`` / ``shared_path("golden", ...)`` callers: the same
    lookup as :func:`reference_file` / :func:`golden_file`."""
    head, *rest = parts
    if head == "reference":
        return reference_file(*rest)
    if head == "golden":
        return golden_file(*rest)
    raise ValueError(f"shared_path({parts}): the first part is 'reference' or 'golden'")


def molstructok_checkpoint_path() -> Path:
    """The MolStrucTok checkpoint the package itself would use (``--checkpoint`` unset), or skip naming where
    it was searched. Tests whose code path loads the tokenizer implicitly (a corpus build with a molecule-3D
    view, ``vocab build`` on 3D records) call this first."""
    from biomatrix_plugin.errors import BioMatrixError
    from biomatrix_plugin.mol3d.checkpoint import require_checkpoint

    try:
        return require_checkpoint()
    except BioMatrixError as exc:
        pytest.skip(f"needs the MolStrucTok checkpoint: {exc}")


CORPUS_CARDS = REPO / "tests" / "corpus" / "cards"


def corpus_fixture_card(name: str):
    """A fixture card of tests/corpus/cards; a test of one that runs MolStrucTok skips (naming why) where the
    checkpoint is absent."""
    from biomatrix_plugin.corpus.build import needs_mol3d_checkpoint
    from biomatrix_plugin.corpus.registry import load_card

    loaded = load_card(CORPUS_CARDS / f"{name}.yaml")
    if needs_mol3d_checkpoint(loaded.data):
        molstructok_checkpoint_path()
    return loaded


@pytest.fixture
def molstructok_checkpoint() -> Path:
    return molstructok_checkpoint_path()


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
