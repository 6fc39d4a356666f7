"""``biomatrix wrap`` / ``biomatrix unwrap``: serialize one entity, or find the wrapped segments in text.

``wrap`` with a value its modality cannot hold raises SerializationError: ``error: <reason>``, exit 2, like
every user mistake. ``unwrap`` exits 1 when it found malformed segments (a result, as grep's 1 is): each
is a JSON line with its ``error``.
"""

from __future__ import annotations

import json
import sys

from biomatrix_plugin.modalities import table


def _wrap(args) -> int:
    from biomatrix_plugin.modalities.serialization import wrap

    print(wrap(args.modality, args.value))
    return 0


def _unwrap(args) -> int:
    from biomatrix_plugin.modalities.serialization import unwrap

    text = args.text if args.text != "-" else sys.stdin.read()
    res = unwrap(text)
    for seg in res.segments:
        print(json.dumps({"modality": seg.modality, "span": [seg.start, seg.end], "value": seg.value,
                          "error": seg.error}))
    return 1 if res.errors else 0


def _value_help() -> str:
    return "; ".join(f"{m.name}: {m.value_help}" for m in table.MODALITIES.values())


def register(subparsers) -> None:
    w = subparsers.add_parser("wrap", help="serialize an entity into its wrapped token string")
    w.add_argument("--modality", required=True, choices=list(table.names()))
    w.add_argument("value", help=_value_help())
    w.set_defaults(func=_wrap)

    u = subparsers.add_parser("unwrap", help="find wrapped segments in text (one JSON line per segment)")
    u.add_argument("text", help="the text, or - for stdin")
    u.set_defaults(func=_unwrap)
