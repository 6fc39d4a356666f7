"""``biomatrix`` command line. Each area registers its own sub-commands from its own module, so this
file stays a thin dispatcher and ``biomatrix --help`` imports no heavy dependency.

An area module defines ``register(subparsers)`` that adds parsers whose ``func`` attribute takes the
parsed ``argparse.Namespace`` and returns an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = (
    "biomatrix_plugin.commands",          # vocab, extend, tiny-base, wrap, unwrap, install-hook, doctor
    "biomatrix_plugin.mol3d.cli",         # mol3d encode/decode/train
    "biomatrix_plugin.protein3d.cli",     # protein extract/encode/...
    "biomatrix_plugin.eval.cli",          # eval metric ...
    "biomatrix_plugin.corpus.cli",        # data build/check/add/stats
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="biomatrix", description="BioMatrix training bundle")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
