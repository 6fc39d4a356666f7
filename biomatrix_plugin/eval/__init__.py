"""Evaluation: metrics of the 80-task suite, generation backends, and the report against the paper.

Stage: the last of the pipeline; nothing imports eval (but eval itself and the demo).

May import: every stage below it (``tasks``, ``corpus``, ``mol3d``, ``protein3d``, ``modalities``, ``vocab``)
and the base layer (``errors``, ``io``, ``paths``, ``cli_types``).

- :mod:`.spec` — the shared types: ``MetricSpec`` (a metric's declaration), ``OptionSpec``,
  ``MetricResult``, ``EvalInputError``; imports no metric family
- :mod:`.registry` — ``METRIC_TABLE``, the one table of metrics (each names its code as
  ``"module:function"``, loaded only when computed), ``compute(name, predictions, references, train,
  **options)``, ``get_metric``, ``list_metrics``
- metric families, one module each: :mod:`.molecules` (MOSES/GuacaMol, SMolInstruct matches),
  :mod:`.molecule_design` (S2-Bench, MolOpt), :mod:`.molecules3d` (stability, 3D validity, geometry MMD),
  :mod:`.text` (BLEU, ROUGE, METEOR), :mod:`.scalar` (errors, correlations, labels, label sets),
  :mod:`.proteins` (AAR, RMSD, TM-score, self-consistency), :mod:`.protein_design` (ProDVa protocol);
  :mod:`.properties` holds the molecular property oracles the design metrics use
- :mod:`.io` — prediction / reference files (through :mod:`biomatrix_plugin.io`)
- :mod:`.generation` — Hugging Face / vLLM backends behind one interface
- :mod:`.report` — Markdown + PNG next to BioMatrix-4B's published numbers (``eval/cards/paper_results.yaml``)
- :mod:`.cli` — ``biomatrix eval metric|report|generate``
"""

from biomatrix_plugin.eval.registry import compute, get_metric, list_metrics
from biomatrix_plugin.eval.spec import EvalInputError, MetricResult

__all__ = ["EvalInputError", "MetricResult", "compute", "get_metric", "list_metrics"]
