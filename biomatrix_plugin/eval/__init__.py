"""Evaluation core: metrics of the 80-task suite, generation backends, and the report against the paper.

- :mod:`.registry` — ``compute(name, predictions, references, train, **options)``, ``list_metrics()``
- :mod:`.molecules`, :mod:`.text`, :mod:`.scalar`, :mod:`.proteins` — one module per metric family
- :mod:`.generation` — Hugging Face / vLLM backends behind one interface
- :mod:`.report` — Markdown + PNG next to BioMatrix-4B's published numbers (``eval/paper_results.yaml``)
"""

from biomatrix_plugin.eval.registry import EvalInputError, MetricResult, compute, get_metric, list_metrics

__all__ = ["EvalInputError", "MetricResult", "compute", "get_metric", "list_metrics"]
