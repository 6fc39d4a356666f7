"""BioMatrix training bundle: vocabulary, serialization, LLaMA-Factory integration, data and evaluation.

Data flows one way: ``vocabulary`` -> ``serialization`` -> builders (``corpus``, ``mol3d``, ``protein3d``)
-> recipes -> ``eval``. Importing this package is cheap: heavy dependencies (torch, rdkit, llamafactory)
are imported by the modules that need them.
"""

__version__ = "0.1.0"
