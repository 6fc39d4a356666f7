"""How the plugin reaches every process that ``llamafactory-cli train`` starts.

LLaMA-Factory 0.9.5 has no plugin entry points, and its launcher re-executes itself under ``torchrun``, so
registering from the command line is not enough. A one-line ``.pth`` file in site-packages
(``biomatrix_plugin_hook.pth``, written by ``biomatrix install-hook`` / ``make install``) runs in every
interpreter of the environment, torchrun workers included. It only installs a post-import hook, a
meta-path finder that does nothing until ``llamafactory.data.converter`` (or a data processor it patches) is
imported; interpreters that never import LLaMA-Factory pay for importing this small module and nothing
else. ``BIOMATRIX_PLUGIN_DISABLE=1`` turns it off.
"""

from __future__ import annotations

import importlib.abc
import os
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Callable

PTH_NAME = "biomatrix_plugin_hook.pth"
# A .pth line runs at every interpreter start of the environment, so it must never fail: if the package
# is gone (uninstalled, or an editable install whose checkout was deleted) it does nothing.
PTH_LINE = (
    "import importlib.util as _u; _s = _u.find_spec('biomatrix_plugin'); "
    "_s and __import__('biomatrix_plugin.hook', fromlist=['activate']).activate(); del _u, _s\n"
)

_CONVERTER = "llamafactory.data.converter"
_PRETRAIN = "llamafactory.data.processor.pretrain"


def _on_converter(module) -> None:
    from .llamafactory_ext import register_converter

    register_converter(module)


def _on_pretrain(module) -> None:
    from .llamafactory_ext import patch_pretrain_packing

    patch_pretrain_packing(module)


def _on_supervised(module) -> None:
    from .llamafactory_ext import patch_sft_truncation_count

    patch_sft_truncation_count(module)


_SUPERVISED = "llamafactory.data.processor.supervised"
_HOOKS: dict[str, Callable] = {_CONVERTER: _on_converter, _PRETRAIN: _on_pretrain, _SUPERVISED: _on_supervised}


class _LoaderProxy(importlib.abc.Loader):
    def __init__(self, loader, hook: Callable):
        self._loader, self._hook = loader, hook

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._loader.exec_module(module)
        self._hook(module)


class _PostImportFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        hook = _HOOKS.get(fullname)
        if hook is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _LoaderProxy(spec.loader, hook)
                return spec
        return None


def activate() -> None:
    """Install the post-import hook (idempotent); apply it at once to modules already imported."""
    if os.environ.get("BIOMATRIX_PLUGIN_DISABLE") == "1":
        return
    if any(isinstance(f, _PostImportFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _PostImportFinder())
    for name, hook in _HOOKS.items():
        if name in sys.modules:
            hook(sys.modules[name])


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
