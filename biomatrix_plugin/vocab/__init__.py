"""Stage 1, the vocabulary: the fixed tokens (control, residue, protein-structure codes), the corpus-derived
ones (SELFIES symbols, molecule-3D joint tokens) as TSV data shipped in ``tokenizer_ext/``, and
``biomatrix vocab build|import|show``.

May import: ``errors``, ``io``, ``paths``. Counting symbols over a corpus needs the serializers, so it lives
one stage down (``modalities.census``) and ``vocab build`` calls it from the CLI layer.
"""
