"""Continual-pretraining corpus (report §3.1): pure builders per source format, stochastic composition,
the data registry (``data_registry/``) and a sharded, resumable build runner. See docs/corpus.md.

May import: ``mol3d``, ``protein3d``, ``modalities``, ``vocab`` and the base layer (``errors``, ``io``, ``paths``,
``schema``). The task suite (``tasks``) builds through this package's engine; nothing here imports it.
"""

from biomatrix_plugin.corpus.builders import BUILDERS, BuilderSpec
from biomatrix_plugin.corpus.records import RecordRejected

__all__ = ["BUILDERS", "BuilderSpec", "RecordRejected"]
