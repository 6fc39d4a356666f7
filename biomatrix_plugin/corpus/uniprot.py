"""UniProtKB flat files (Swiss-Prot / TrEMBL ``.dat``): parse one entry, drop evidence codes and literature
citations, and keep the annotations the report lists (name, organism, lineage, localization, keywords,
function and other comments) with the sequence.

Line types follow the UniProtKB user manual: two-letter code, three spaces, data; an entry ends with ``//``.
"""

from __future__ import annotations

import re

from biomatrix_plugin.corpus.records import RecordRejected

# {ECO:0000269|PubMed:12345, ECO:0000305} evidence blocks, and inline literature references
_EVIDENCE = re.compile(r"\s*\{ECO:[^{}]*\}")
_PUBMED_PAREN = re.compile(r"\s*\((?:PubMed|DOI|PMID):[^()]*\)")
# "Evidence={ECO:...};" in structured comments (COFACTOR, CATALYTIC ACTIVITY): nothing is left once the
# block goes, so the key goes with it
_EVIDENCE_KEY = re.compile(r"\s*Evidence=\{ECO:[^{}]*\};?")
_CONTINUATION_SPACE = re.compile(r"\s+")
_REMOVED = "\x00"  # stands where an evidence block or citation was, until the punctuation is repaired
# UniProt closes a sentence and then its evidence: "Secreted. {ECO:0000269}." -> "Secreted."
_PERIOD_AROUND_REMOVED = re.compile(r"\.(?:(?:\s*\x00)+\s*\.)+")

# comment topics kept as annotation fields (others, e.g. MISCELLANEOUS or WEB RESOURCE, are skipped)
COMMENT_TOPICS = {
    "FUNCTION": "function",
    "CATALYTIC ACTIVITY": "catalytic_activity",
    "SUBCELLULAR LOCATION": "subcellular_location",
    "SUBUNIT": "subunit",
    "TISSUE SPECIFICITY": "tissue_specificity",
    "DOMAIN": "domain",
    "PATHWAY": "pathway",
    "SIMILARITY": "similarity",
    "DISEASE": "disease",
    "COFACTOR": "cofactor",
    "ACTIVITY REGULATION": "activity_regulation",
    "INDUCTION": "induction",
    "PTM": "ptm",
}


def strip_evidence(text: str) -> str:
    """Drop evidence blocks and literature references without leaving their punctuation behind
    ("Belongs to the insulin family. {ECO:0000305}." -> "Belongs to the insulin family.")."""
    text = text.replace(_REMOVED, "")
    text = _EVIDENCE_KEY.sub(_REMOVED, text)
    text = _EVIDENCE.sub(_REMOVED, text)
    text = _PUBMED_PAREN.sub(_REMOVED, text)
    text = _PERIOD_AROUND_REMOVED.sub(".", text).replace(_REMOVED, "")
    return _CONTINUATION_SPACE.sub(" ", text).strip()


def _clean_catalytic(text: str) -> str:
    # "Reaction=A + B = C; Xref=Rhea:RHEA:1, ChEBI:...; EC=1.2.3.4;" -> "A + B = C (EC 1.2.3.4)"
    reaction = re.search(r"Reaction=(.*?);", text)
    ec = re.search(r"EC=([\d.n-]+)", text)
    if not reaction:
        return text
    out = reaction.group(1).strip()
    return f"{out} (EC {ec.group(1)})" if ec else out


def _parse_de(lines: list[str]) -> tuple[str | None, list[str], list[str]]:
    """DE lines -> (recommended/submitted name, alternative names, EC numbers)."""
    name, alt, ecs = None, [], []
    section = None
    for line in lines:
        body = strip_evidence(line)
        if body.startswith(("RecName:", "SubName:")):
            section = "rec"
            body = body.split(":", 1)[1].strip()
        elif body.startswith("AltName:"):
            section = "alt"
            body = body.split(":", 1)[1].strip()
        elif body.startswith(("Contains:", "Includes:", "Flags:")):
            section = None
            continue
        for part in body.split(";"):
            part = part.strip()
            if "=" not in part:
                continue
            key, value = part.split("=", 1)
            key, value = key.strip(), value.strip()
            if key == "EC":
                ecs.append(value)
            elif key == "Full" and section == "rec" and name is None:
                name = value
            elif key in ("Full", "Short") and section == "alt":
                alt.append(value)
    return name, alt, ecs


def parse_uniprot_entry(text: str) -> dict:
    """One ``.dat`` entry -> fields. Raises :class:`RecordRejected` with the reason."""
    lines = text.strip().splitlines()
    if not lines or not lines[0].startswith("ID   "):
        raise RecordRejected(f"UniProt entry does not start with an ID line: {text[:40]!r}")
    if lines[-1].strip() != "//":
        raise RecordRejected(f"UniProt entry {lines[0][5:].split()[0]!r} has no '//' terminator (truncated)")
    fields: dict[str, list[str]] = {}
    seq_lines: list[str] = []
    in_seq = False
    sq_header = ""
    for line in lines[:-1]:
        code, data = line[:2], line[5:]
        if in_seq:
            if code == "  ":
                seq_lines.append(data)
                continue
            in_seq = False
        if code == "SQ":
            in_seq, sq_header = True, data
            continue
        fields.setdefault(code, []).append(data)

    ident = fields["ID"][0].split()[0]
    reviewed = "Reviewed;" in fields["ID"][0]
    accessions = [a.strip() for l in fields.get("AC", []) for a in l.split(";") if a.strip()]
    if not sq_header:
        raise RecordRejected(f"UniProt entry {ident}: no SQ (sequence) block")
    sequence = "".join("".join(l.split()) for l in seq_lines)
    m = re.search(r"(\d+)\s+AA;", sq_header)
    if not m:
        raise RecordRejected(f"UniProt entry {ident}: SQ line {sq_header.strip()!r} has no length")
    if int(m.group(1)) != len(sequence):
        raise RecordRejected(
            f"UniProt entry {ident}: SQ line says {m.group(1)} AA but the sequence has {len(sequence)} residues"
        )

    name, alt_names, ecs = _parse_de(fields.get("DE", []))
    gene = None
    for line in fields.get("GN", []):
        mg = re.search(r"(?:^|;\s*)Name=([^;{]+)", strip_evidence(line))
        if mg:
            gene = mg.group(1).strip()
            break
    organism = strip_evidence(" ".join(fields.get("OS", []))).rstrip(".") or None
    lineage_text = strip_evidence(" ".join(fields.get("OC", []))).rstrip(".")
    lineage = [t.strip() for t in lineage_text.split(";") if t.strip()]
    keywords_text = strip_evidence(" ".join(fields.get("KW", []))).rstrip(".")
    keywords = [k.strip() for k in keywords_text.split(";") if k.strip()]

    comments: dict[str, list[str]] = {}
    current_topic, current_text = None, []

    def flush() -> None:
        if current_topic in COMMENT_TOPICS and current_text:
            body = strip_evidence(" ".join(current_text))
            if current_topic == "CATALYTIC ACTIVITY":
                body = _clean_catalytic(body)
            if body:
                comments.setdefault(COMMENT_TOPICS[current_topic], []).append(body)

    for line in fields.get("CC", []):
        if line.startswith("-!- "):
            flush()
            topic, _, rest = line[4:].partition(":")
            current_topic, current_text = topic.strip(), [rest.strip()]
        elif line.startswith("----") or line.startswith("Copyrighted") or line.startswith("Distributed"):
            flush()
            current_topic, current_text = None, []  # licence footer, not an annotation
        elif current_topic is not None:
            current_text.append(line.strip())
    flush()

    return {
        "id": ident,
        "accessions": accessions,
        "reviewed": reviewed,
        "name": name,
        "alt_names": alt_names,
        "ec_numbers": ecs,
        "gene": gene,
        "organism": organism,
        "lineage": lineage,
        "keywords": keywords,
        "comments": comments,
        "sequence": sequence,
    }
