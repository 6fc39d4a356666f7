"""Continual-pretraining corpus (report §3.1): pure builders per source format, stochastic composition,
the data registry (``data_registry/``) and a sharded, resumable build runner. See docs/corpus.md."""

from biomatrix_plugin.corpus.builders import BUILDERS, BuilderSpec
from biomatrix_plugin.corpus.records import RecordRejected

__all__ = ["BUILDERS", "BuilderSpec", "RecordRejected"]
