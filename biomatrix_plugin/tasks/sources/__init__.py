"""One module per instruction-tuning source family; each defines ``CONVERTERS: dict[str, ConverterSpec]``.

:data:`biomatrix_plugin.tasks.converters.CONVERTERS` collects every module here (modules whose name starts
with ``_`` are helpers, not sources). May import: the base layer, modalities, mol3d, protein3d, corpus and
tasks.converters / tasks.entities.
"""
