"""The LLaMA-Factory integration: the ``.pth`` hook (``hook``), the data-processor patches and the
``biomatrix`` dataset formatting registration (``patches``), the ``{column|modality}`` row rendering
(``formatting``), and the launch check of a recipe on this machine (``preflight``); ``biomatrix
install-hook|doctor|preflight``.

May import: ``modalities`` and the base layer only, so a training worker loads nothing else of the package.
"""
