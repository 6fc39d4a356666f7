"""Where things are: package data shipped in the wheel, and the folders of a source checkout.

Package data (the vocabulary, metric cards, paper numbers, demo samples, default task files) is read
through :mod:`importlib.resources`, so a plain ``pip install .`` works from any folder. Repository folders
(``recipes/``, ``data_registry/``) exist only in a checkout; each has an environment override, and asking
for one outside a checkout is a :class:`ConfigError` that says which variable to set.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from biomatrix_plugin.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent

# environment overrides
VOCAB_DIR_ENV = "BIOMATRIX_VOCAB_DIR"
DATA_REGISTRY_ENV = "BIOMATRIX_DATA_REGISTRY"
RECIPES_ENV = "BIOMATRIX_RECIPES_DIR"
REFERENCE_ENV = "BIOMATRIX_REFERENCE_DIR"


def package_data(*parts: str) -> Path:
    """A file or folder shipped inside the package (``biomatrix_plugin/<parts>``), as a real path.

    The package is always installed unzipped (setuptools wheels), so ``resources.files`` is a directory."""
    return Path(str(resources.files("biomatrix_plugin").joinpath(*parts)))


def checkout_root() -> Path | None:
    """The source checkout this package runs from (editable install or ``python -m`` in a clone), or None."""
    root = PACKAGE_DIR.parent
    return root if (root / "setup.cfg").is_file() and (root / "recipes").is_dir() else None


def _checkout_dir(name: str, env: str) -> Path:
    value = os.environ.get(env)
    if value:
        return Path(value)
    root = checkout_root()
    if root is None:
        raise ConfigError(f"no {name}/ folder: this installation is not a source checkout; set ${env} to one "
                          f"(or clone the repository and run from it)")
    return root / name


def data_registry_dir() -> Path:
    """``$BIOMATRIX_DATA_REGISTRY``, else the checkout's ``data_registry/``."""
    return _checkout_dir("data_registry", DATA_REGISTRY_ENV)


def recipes_dir() -> Path:
    """``$BIOMATRIX_RECIPES_DIR``, else the checkout's ``recipes/``."""
    return _checkout_dir("recipes", RECIPES_ENV)


def default_vocab_dir() -> Path:
    """``$BIOMATRIX_VOCAB_DIR``, else the vocabulary shipped in the package (``tokenizer_ext/`` in a checkout
    is a link to the same folder)."""
    value = os.environ.get(VOCAB_DIR_ENV)
    return Path(value) if value else package_data("vocab", "tokenizer_ext")


def reference_dir() -> Path | None:
    """The project's reference material (tech report, MolStrucTok checkpoint, golden codes):
    ``$BIOMATRIX_REFERENCE_DIR``, else ``../shared/reference`` beside a checkout; None when absent.
    A user's clone has none; see README "External files" for where each file comes from."""
    value = os.environ.get(REFERENCE_ENV)
    if value:
        return Path(value)
    root = checkout_root()
    candidate = root.parent / "shared" / "reference" if root else None
    return candidate if candidate is not None and candidate.is_dir() else None
