"""Post-import hook that the ``biomatrix_plugin_hook.pth`` line activates in every interpreter.

A top-level module rather than part of ``biomatrix_plugin``: importing a package submodule at interpreter
start would import the package itself from the installed checkout, so a second checkout sharing the
environment (``python -m pytest`` run from it) would silently run the installed one's code. This module
imports nothing of the package until LLaMA-Factory's data modules are imported; the package is then
found through the normal ``sys.path`` order. See ``biomatrix_plugin.llamafactory.hook`` for installation and checks.
"""

from __future__ import annotations

import importlib
import importlib.abc
import os
import sys

# LLaMA-Factory module -> the biomatrix_plugin.llamafactory.patches function that registers or patches in it
HOOKS = {
    "llamafactory.data.converter": "register_converter",
    "llamafactory.data.processor.pretrain": "patch_pretrain_packing",
    "llamafactory.data.processor.supervised": "patch_sft_truncation_count",
}


def _apply(fullname: str, module) -> None:
    try:
        ext = importlib.import_module("biomatrix_plugin.llamafactory.patches")
    except ImportError:  # the package was uninstalled after the hook: LLaMA-Factory runs unchanged
        return
    getattr(ext, HOOKS[fullname])(module)


class _LoaderProxy(importlib.abc.Loader):
    def __init__(self, loader, fullname: str):
        self._loader, self._fullname = loader, fullname

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._loader.exec_module(module)
        _apply(self._fullname, module)


class PostImportFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname not in HOOKS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _LoaderProxy(spec.loader, fullname)
                return spec
        return None


def activate() -> None:
    """Install the post-import hook (idempotent); apply it at once to modules already imported."""
    if os.environ.get("BIOMATRIX_PLUGIN_DISABLE") == "1":
        return
    if any(isinstance(f, PostImportFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, PostImportFinder())
    for name in HOOKS:
        if name in sys.modules:
            _apply(name, sys.modules[name])
