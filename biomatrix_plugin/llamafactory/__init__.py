"""The LLaMA-Factory integration: the ``.pth`` hook (``hook``), the data-processor patches and the
``biomatrix`` dataset formatting registration (``patches``), and the ``{column|modality}`` row rendering
(``formatting``).

May import: ``modalities`` and the base layer only, so a training worker loads nothing else of the package.
"""
