"""``biomatrix install-hook`` / ``doctor`` / ``preflight``: the LLaMA-Factory registration and launch checks."""

from __future__ import annotations

import json


def _install_hook(args) -> int:
    from biomatrix_plugin.llamafactory.hook import install_pth

    path = install_pth(remove=args.remove)
    print(f"removed {path}" if args.remove else path)
    return 0


def _doctor(args) -> int:
    from biomatrix_plugin.llamafactory.hook import doctor

    report = doctor()
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


def _preflight(args) -> int:
    from biomatrix_plugin.llamafactory.preflight import require_ready

    require_ready(args.recipe)  # PreflightError: cli.main prints the list and exits 2
    print(f"{args.recipe}: ready to launch")
    return 0


def register(subparsers) -> None:
    h = subparsers.add_parser("install-hook", help="install the .pth hook that registers the plugin with LLaMA-Factory")
    h.add_argument("--remove", action="store_true", help="delete the hook (pip uninstall does not)")
    h.set_defaults(func=_install_hook)
    d = subparsers.add_parser("doctor", help="check the LLaMA-Factory registration in a fresh interpreter")
    d.set_defaults(func=_doctor)
    p = subparsers.add_parser(
        "preflight", help="check that this machine can launch a training recipe (GPUs, packages, torchrun, data)",
        description="Lists everything that would stop `llamafactory-cli train RECIPE` here and exits 2, "
                    "or prints 'ready to launch'. make cpt / make sft run it first.")
    p.add_argument("recipe", help="the recipe YAML, e.g. recipes/cpt_4b.yaml")
    p.set_defaults(func=_preflight)
