"""BioMatrix training bundle: a LLaMA-Factory plugin that makes Qwen3 + molecule/protein tokens trainable.

Subpackages by pipeline stage; data flows one way (``tests/test_structure.py`` enforces it, see
``docs/architecture.md``)::

    vocab <- modalities <- (model, mol3d, protein3d) <- corpus <- tasks <- eval
    llamafactory -> modalities only;  demo and cli.py -> anything;  nothing imports eval or demo

The base layer (``errors``, ``io``, ``paths``, ``cli_types``) is importable by everything and imports no
stage. Importing this package is cheap: heavy dependencies (torch, rdkit, llamafactory) are imported by the
modules that need them.
"""

__version__ = "0.1.0"
