"""Free-text answers kept with their line structure (Mol-Instructions' listed motifs, MegaScience's step-by-step
solutions): the shared ``entities.text`` joins every line into one, which is right for a caption but would
flatten a worked solution into a single paragraph."""

from __future__ import annotations

from typing import Any

from biomatrix_plugin.corpus.records import RecordRejected
from biomatrix_plugin.modalities.serialization import SerializationError, check_free_text


def free_text(value: Any, where: str) -> str:
    """Stripped text with its newlines (trailing spaces and runs of blank lines removed); empty, not a
    string, or holding a modality control token = a reject naming ``where``."""
    if not isinstance(value, str) or not value.strip():
        raise RecordRejected(f"{where}: empty text field")
    lines = [line.rstrip() for line in value.strip().replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    kept: list[str] = []
    for line in lines:
        if line or (kept and kept[-1]):  # at most one blank line in a row
            kept.append(line)
    try:
        return check_free_text("\n".join(kept), where)
    except SerializationError as exc:
        raise RecordRejected(str(exc)) from None
