"""Stage 5, the instruction-tuning task suite: one declarative file per sub-task (dataset, prompts,
response format, variants, splits, group, evaluation, paper numbers), converters from each source's
published files, and ``biomatrix tasks``.

May import: ``corpus`` (its build engine), ``mol3d``, ``protein3d``, ``modalities``, ``vocab`` and the base layer.
"""
