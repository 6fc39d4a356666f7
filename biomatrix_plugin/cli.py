"""``biomatrix`` command line: a thin dispatcher over one ``cli`` module per pipeline stage.

Each stage module defines ``register(subparsers)``; a parser's ``func`` takes the parsed namespace and
returns an exit code. ``biomatrix --help`` imports no heavy dependency. Every user mistake raises a
:class:`~biomatrix_plugin.errors.BioMatrixError`: ``main`` prints ``error: <message>`` and exits 2; only an
unexpected exception (a bug) shows a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from biomatrix_plugin.errors import USER_ERROR_EXIT, BioMatrixError

# in pipeline order: vocab -> modalities -> model -> mol3d / protein3d -> corpus -> tasks -> eval
COMMAND_MODULES = (
    "biomatrix_plugin.vocab.cli",         # vocab build/import/show
    "biomatrix_plugin.modalities.cli",    # wrap, unwrap
    "biomatrix_plugin.model.cli",         # extend, tiny-base
    "biomatrix_plugin.mol3d.cli",         # mol3d encode/decode/train/...
    "biomatrix_plugin.protein3d.cli",     # protein3d extract/encode/... (alias: protein)
    "biomatrix_plugin.corpus.cli",        # corpus build/check/add/stats (alias: data)
    "biomatrix_plugin.tasks.cli",         # tasks list/show/check/build/recipes
    "biomatrix_plugin.eval.cli",          # eval metric/generate/report/run
    "biomatrix_plugin.llamafactory.cli",  # install-hook, doctor
)


def _mark_groups(parser: argparse.ArgumentParser) -> None:
    """A command group called without an action prints its own help (set as the group's default)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in set(action.choices.values()):
                if any(isinstance(a, argparse._SubParsersAction) for a in sub._actions):
                    sub.set_defaults(func=None, _group_parser=sub)
                    _mark_groups(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="biomatrix", description="BioMatrix training bundle")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # a stage without commands yet
                continue
            raise
        module.register(sub)
    _mark_groups(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        (getattr(args, "_group_parser", None) or parser).print_help()
        return USER_ERROR_EXIT
    try:
        return int(args.func(args) or 0)
    except BioMatrixError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `biomatrix unwrap ... | head`: the reader left; say nothing and exit quietly (no flush traceback)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
