"""Continual-pretraining corpus (report §3.1): pure builders per source format, stochastic composition,
the data registry (``data_registry/``) and a sharded, resumable build runner. See docs/corpus.md."""

from .builders import BUILDERS, BuilderSpec
from .records import RecordRejected

__all__ = ["BUILDERS", "BuilderSpec", "RecordRejected"]
