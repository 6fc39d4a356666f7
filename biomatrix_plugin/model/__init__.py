"""Model code: extending a base model with the vocabulary and description-based embedding init
(``extend``), and the tiny random Qwen3 with the real Qwen3 BPE used by the demo and tests (``tiny_base``).

May import: ``vocab``, ``modalities`` and the base layer.
"""
