"""``biomatrix wrap`` / ``biomatrix unwrap``: serialize one entity, or find the wrapped segments in text."""

from __future__ import annotations

import json
import sys


def _wrap(args) -> int:
    from biomatrix_plugin.modalities.serialization import SerializationError, wrap

    try:
        print(wrap(args.modality, args.value))
    except SerializationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _unwrap(args) -> int:
    from biomatrix_plugin.modalities.serialization import unwrap

    text = args.text if args.text != "-" else sys.stdin.read()
    res = unwrap(text)
    for seg in res.segments:
        print(json.dumps({"modality": seg.modality, "span": [seg.start, seg.end], "value": seg.value,
                          "error": seg.error}))
    return 1 if res.errors else 0


def register(subparsers) -> None:
    w = subparsers.add_parser("wrap", help="serialize an entity into its wrapped token string")
    w.add_argument("--modality", required=True, choices=["smiles", "selfies", "protein", "prot3d", "mol3d"])
    w.add_argument("value", help="SMILES / SELFIES / sequence / structure codes (space or comma separated)")
    w.set_defaults(func=_wrap)

    u = subparsers.add_parser("unwrap", help="find wrapped segments in text (one JSON line per segment)")
    u.add_argument("text", help="the text, or - for stdin")
    u.set_defaults(func=_unwrap)
