"""How the plugin reaches every process that ``llamafactory-cli train`` starts.

LLaMA-Factory 0.9.5 has no plugin entry points, and its launcher re-executes itself under ``torchrun``, so
registering from the command line is not enough. A one-line ``.pth`` file in site-packages
(``biomatrix_plugin_hook.pth``, written by ``biomatrix install-hook`` / ``make install``) runs in every
interpreter of the environment, torchrun workers included. It imports only the small top-level module
``biomatrix_plugin_hook`` (not this package), which installs a meta-path finder that does nothing until
``llamafactory.data.converter`` (or a data processor it patches) is imported. ``BIOMATRIX_PLUGIN_DISABLE=1``
turns it off before anything is imported.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

from biomatrix_plugin_hook import activate  # noqa: F401  (re-exported: the hook's entry point)

PTH_NAME = "biomatrix_plugin_hook.pth"
# A .pth line runs at every interpreter start of the environment, so it must never fail: if the module is
# gone (uninstalled, or an editable install whose checkout was deleted) it does nothing.
PTH_LINE = (
    "import os, importlib.util as _u; os.environ.get('BIOMATRIX_PLUGIN_DISABLE') == '1' "
    "or not _u.find_spec('biomatrix_plugin_hook') or __import__('biomatrix_plugin_hook').activate(); del _u\n"
)


def install_pth(site_packages: str | Path | None = None, remove: bool = False) -> Path:
    target = Path(site_packages or sysconfig.get_paths()["purelib"]) / PTH_NAME
    if remove:
        target.unlink(missing_ok=True)
    else:
        target.write_text(PTH_LINE)
    return target


def doctor(python: str | None = None) -> dict:
    """Check, in a fresh interpreter, that LLaMA-Factory sees the ``biomatrix`` formatting."""
    code = (
        "import llamafactory.data.converter as c, llamafactory.data.processor.pretrain as p,"
        " llamafactory.data.processor.supervised as s;"
        "print('biomatrix' in c.DATASET_CONVERTERS, getattr(p.PretrainDatasetProcessor, '_biomatrix_patched', False)"
        " and getattr(s.SupervisedDatasetProcessor, '_biomatrix_patched', False))"
    )
    pth = Path(sysconfig.get_paths()["purelib"]) / PTH_NAME
    proc = subprocess.run([python or sys.executable, "-c", code], capture_output=True, text=True)
    words = proc.stdout.split()
    registered = len(words) == 2 and words[0] == "True"
    patched = len(words) == 2 and words[1] == "True"
    return {
        "ok": registered and patched,
        "pth_file": str(pth) if pth.exists() else None,
        "converter_registered": registered,
        "data_processors_patched": patched,
        "stderr_tail": proc.stderr[-500:] if proc.returncode else "",
    }
