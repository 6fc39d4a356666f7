"""Protein-centric builders (report §3.1.3).

* UniRef-style FASTA: the 1D view only.
* UniProt ``.dat`` (Swiss-Prot / TrEMBL): the 1D view plus a composite annotation instance under
  stochastic composition (evidence codes and citations already removed by the parser).
* Structures (PDB / mmCIF / AFDB): the three-view pattern of :mod:`biomatrix_plugin.protein3d`.
"""

from __future__ import annotations

import random
import re
from array import array
from functools import lru_cache
from typing import Any, Mapping

from biomatrix_plugin.corpus.compose import Component, compose, include, sample_views
from biomatrix_plugin.corpus.records import RecordRejected, free_text

COMMENT_LABELS = {
    "function": "Function",
    "catalytic_activity": "Catalytic activity",
    "subcellular_location": "Subcellular location",
    "subunit": "Subunit",
    "tissue_specificity": "Tissue specificity",
    "domain": "Domain",
    "pathway": "Pathway",
    "similarity": "Similarity",
    "disease": "Disease",
    "cofactor": "Cofactor",
    "activity_regulation": "Activity regulation",
    "induction": "Induction",
    "ptm": "Post-translational modification",
}

DEFAULT_ANNOTATION_PROBS = {
    "name": 0.9, "alt_names": 0.3, "ec_numbers": 0.6, "gene": 0.5, "organism": 0.8, "lineage": 0.4,
    "keywords": 0.5, "function": 0.9, "catalytic_activity": 0.7, "subcellular_location": 0.7,
    "comments": 0.5,  # default for the other comment topics
}


def wrapped_sequence(sequence: str, ident: str, max_length: int | None = None) -> str:
    from biomatrix_plugin.modalities.serialization import SerializationError, wrap_protein

    if max_length is not None and len(sequence) > max_length:
        raise RecordRejected(f"{ident}: sequence has {len(sequence)} residues, more than max_length={max_length}")
    try:
        return wrap_protein(sequence)
    except SerializationError as exc:
        raise RecordRejected(f"{ident}: {exc}") from None


def build_fasta_sequence(record: Mapping[str, Any], rng: random.Random, params: Mapping[str, Any]) -> list[dict]:
    """UniRef FASTA entry -> the 1D view (the wrapped sequence, nothing else by default).

    params: ``max_length``; ``name_probability`` (default 0): prepend the header's description."""
    text = wrapped_sequence(record["sequence"], record["id"], params.get("max_length"))
    desc = _uniref_name(free_text(record.get("description", ""), f"{record['id']}: FASTA description"))
    if desc and include(rng, {"name": params.get("name_probability", 0.0)}, "name", 0.0):
        text = f"{desc}\n{text}"
    return [{"text": text}]


def _uniref_name(description: str) -> str:
    # "Peptidylprolyl isomerase n=1 Tax=Triplophysa tibetana TaxID=1585045 RepID=..." -> cluster name
    for marker in (" n=", " Tax=", " OS="):
        idx = description.find(marker)
        if idx >= 0:
            description = description[:idx]
    return description.strip()


def _annotation_texts(entry: Mapping[str, Any]) -> None:
    """Every annotation value that may be written into an instance must be free text (no control token);
    checked up front, whatever is sampled, so the rule does not depend on the random draw."""
    ident = entry.get("id")
    for key in ("name", "gene", "organism"):
        if entry.get(key):
            free_text(entry[key], f"{ident}: {key}")
    for key in ("alt_names", "ec_numbers", "lineage", "keywords"):
        for value in entry.get(key) or ():
            free_text(value, f"{ident}: {key}")
    for topic, texts in (entry.get("comments") or {}).items():
        for value in texts:
            free_text(value, f"{ident}: comment {topic}")


def _annotation_components(entry: Mapping[str, Any], rng: random.Random, probs: Mapping[str, float]) -> list[Component]:
    out: list[Component] = []

    def maybe(key: str, text: str | None, prob_key: str | None = None) -> None:
        if text and include(rng, probs, prob_key or key, DEFAULT_ANNOTATION_PROBS.get(prob_key or key, 0.5)):
            out.append(Component(key, text))

    maybe("name", entry.get("name") and f"Protein name: {entry['name']}")
    if entry.get("alt_names"):
        maybe("alt_names", "Alternative names: " + "; ".join(entry["alt_names"]))
    if entry.get("ec_numbers"):
        maybe("ec_numbers", "EC number: " + ", ".join(entry["ec_numbers"]))
    maybe("gene", entry.get("gene") and f"Gene: {entry['gene']}")
    maybe("organism", entry.get("organism") and f"Organism: {entry['organism']}")
    if entry.get("lineage"):
        maybe("lineage", "Taxonomic lineage: " + " > ".join(entry["lineage"]))
    if entry.get("keywords"):
        keywords = list(entry["keywords"])
        rng.shuffle(keywords)  # interchangeable annotation entries
        maybe("keywords", "Keywords: " + ", ".join(keywords))
    for topic, texts in entry.get("comments", {}).items():
        label = COMMENT_LABELS.get(topic, topic.replace("_", " ").capitalize())
        prob_key = topic if topic in DEFAULT_ANNOTATION_PROBS else "comments"
        if topic in probs:
            prob_key = topic
        maybe(topic, f"{label}: " + " ".join(texts), prob_key)
    return out


_AFDB_ACCESSION = re.compile(r"^AF-([A-Z0-9]+)-F\d+")


def structure_key(pid: str) -> str:
    """vq_indices.csv pid -> UniProt accession: ``AF-P01308-F1-model_v4_chain_id_A`` -> ``P01308``;
    any other pid is used as it is (write the accession there for non-AFDB structures)."""
    m = _AFDB_ACCESSION.match(pid)
    return m.group(1) if m else pid


@lru_cache(maxsize=2)
def load_structure_table(path: str) -> dict[str, tuple[str, array]]:
    """accession -> (sequence, codes) from a vq_indices.csv; codes kept as uint16 arrays (2 bytes/residue,
    about 0.5 GB for all of Swiss-Prot's AFDB models). Invalid rows are an error naming the row: the table
    is an input prepared once, not a stream of raw records."""
    from biomatrix_plugin.protein3d.vq_csv import read_vq_csv

    records, rejected = read_vq_csv(path)
    if rejected:
        first = rejected[0]
        raise ValueError(f"{path}: {len(rejected)} invalid row(s), e.g. row {first.get('row')}: {first.get('reason')}")
    return {structure_key(r.pid): (r.sequence, array("H", r.codes)) for r in records}


def build_uniprot_entry(record: Mapping[str, Any], rng: random.Random, params: Mapping[str, Any]) -> list[dict]:
    """Parsed UniProt entry -> [1D view] + composite annotation instance.

    With ``structure_table`` (a vq_indices.csv of AFDB/PDB models keyed by accession, see
    :func:`structure_key`), an entry that has a structure emits the three-view pattern (1D, 3D, joint) and
    its composite may carry the 3D view too (report §3.1.3, Swiss-Prot + AFDB).

    params: ``annotations`` {field: probability}, ``emit_sequence_view`` (default true),
    ``sequence_probability`` / ``structure_probability`` in the composite (default 1.0 / 0.8),
    ``structure_table``, ``max_length``, ``shuffle``. A composite with no sampled annotation gets one
    annotation drawn at random so it is never just the 1D view again."""
    from biomatrix_plugin.modalities.serialization import SerializationError, wrap_prot3d

    ident = record["id"]
    wrapped = wrapped_sequence(record["sequence"], ident, params.get("max_length"))
    probs = {**DEFAULT_ANNOTATION_PROBS, **params.get("annotations", {})}
    _annotation_texts(record)
    codes = None
    if params.get("structure_table"):
        for acc in record.get("accessions") or [ident]:
            hit = load_structure_table(params["structure_table"]).get(acc)
            if hit is not None:
                if hit[0] != record["sequence"]:
                    raise RecordRejected(f"{ident}: the structure of {acc} has another sequence "
                                         f"({len(hit[0])} vs {len(record['sequence'])} residues); update the table")
                codes = list(hit[1])
                break
    instances: list[dict] = []
    if codes is not None:
        from biomatrix_plugin.protein3d.instances import three_view_instances

        try:
            instances.extend(three_view_instances(record["sequence"], codes, rng))
        except SerializationError as exc:
            raise RecordRejected(f"{ident}: {exc}") from None
    elif params.get("emit_sequence_view", True):
        instances.append({"text": wrapped})
    components = _annotation_components(record, rng, probs)
    if not components:
        everything = _annotation_components(record, rng, {k: 1.0 for k in probs} | {"comments": 1.0})
        if not everything:
            if not instances:
                raise RecordRejected(f"{ident}: no annotations to build a composite instance from")
            return instances
        components = [everything[rng.randrange(len(everything))]]
    views = {"protein": f"Sequence: {wrapped}"}
    view_probs = {"protein": params.get("sequence_probability", 1.0)}
    if codes is not None:
        views["prot3d"] = f"Structure: {wrap_prot3d(codes)}"
        view_probs["prot3d"] = params.get("structure_probability", 0.8)
    for view in sample_views(rng, list(views), view_probs, {"protein": 1.0, "prot3d": 0.8}):
        components.append(Component(view, views[view]))
    instances.append({"text": compose(rng, components, shuffle=bool(params.get("shuffle", True)))})
    return instances


def build_protein_structure(record: Mapping[str, Any], rng: random.Random, params: Mapping[str, Any]) -> list[dict]:
    """A tokenized structure (a ``vq_indices.csv`` row: ``pid``, ``indices``, ``protein_sequence``, as written
    by ``biomatrix protein encode`` for PDB/mmCIF/AFDB chains) -> the three-view instances of
    :mod:`biomatrix_plugin.protein3d` (1D, 3D, joint in random order).

    params: ``columns`` {pid, indices, sequence: column name}, ``max_length``."""
    from biomatrix_plugin.modalities.serialization import SerializationError

    try:
        from biomatrix_plugin.protein3d.instances import three_view_instances
        from biomatrix_plugin.protein3d.vq_csv import validate_row
    except ImportError:
        raise RecordRejected("structure views need biomatrix_plugin.protein3d, which is not installed") from None
    columns = {"pid": "pid", "indices": "indices", "sequence": "protein_sequence", **params.get("columns", {})}
    vq, reason = validate_row(str(record.get(columns["pid"]) or ""), str(record.get(columns["indices"]) or ""),
                              str(record.get(columns["sequence"]) or ""))
    if vq is None:
        raise RecordRejected(f"{record.get(columns['pid'])}: {reason}")
    max_length = params.get("max_length")
    if max_length is not None and len(vq.sequence) > int(max_length):
        raise RecordRejected(f"{vq.pid}: {len(vq.sequence)} residues, more than max_length={max_length}")
    try:
        return three_view_instances(vq.sequence, vq.codes, rng)
    except SerializationError as exc:
        raise RecordRejected(f"{vq.pid}: {exc}") from None
