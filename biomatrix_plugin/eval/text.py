"""Text metrics: METEOR, BLEU-2/4, ROUGE-1/2/L (nltk, rouge-score), scored as SMolInstruct/MolT5 do.

- Tokenisation for METEOR/BLEU: ``tokenizer=regex`` (words and punctuation; default), ``whitespace``, or
  ``hf:/path/to/tokenizer`` (a local Hugging Face tokenizer directory; SMolInstruct and MolT5 use SciBERT's
  WordPiece tokenizer, which is a hub download and therefore not the default here).
- BLEU is corpus-level (nltk ``corpus_bleu``); METEOR and ROUGE are per-item means of nltk's
  ``meteor_score`` and rouge-score's F-measure.
- Empty predictions: ``empty=skip`` (default, as SMolInstruct) leaves them out of the mean, ``empty=zero``
  scores them 0; either way they are counted in ``n_invalid``.
- METEOR needs the WordNet 3.0 database (for synonym matching). It is never downloaded at run time: it is
  taken from nltk's data directory when present, else from a WordNet database directory
  (``$BIOMATRIX_WORDNET_DIR``, ``$WNSEARCHDIR``, or Debian/Ubuntu's ``wordnet-base`` package at
  ``/usr/share/wordnet``). Without one, METEOR is reported as not computed with that instruction.
"""

from __future__ import annotations

import os
import re
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from biomatrix_plugin.errors import BioMatrixError
from biomatrix_plugin.eval.spec import EvalInputError, MetricResult

WORDNET_MISSING = (
    "WordNet data missing: install the WordNet 3.0 database (Debian/Ubuntu: `apt-get install wordnet-base`, "
    "or point $BIOMATRIX_WORDNET_DIR at a WordNet 'dict' directory, or place nltk's 'wordnet' corpus in an "
    "nltk_data directory)"
)

# lexnames(5WN) of WordNet 3.0: file number, lexicographer file, syntactic category. nltk's reader needs this
# file, which the Debian package leaves out (it ships only the man page).
_LEXNAMES = (
    "adj.all 3|adj.pert 3|adv.all 4|noun.Tops 1|noun.act 1|noun.animal 1|noun.artifact 1|noun.attribute 1|"
    "noun.body 1|noun.cognition 1|noun.communication 1|noun.event 1|noun.feeling 1|noun.food 1|noun.group 1|"
    "noun.location 1|noun.motive 1|noun.object 1|noun.person 1|noun.phenomenon 1|noun.plant 1|"
    "noun.possession 1|noun.process 1|noun.quantity 1|noun.relation 1|noun.shape 1|noun.state 1|"
    "noun.substance 1|noun.time 1|verb.body 2|verb.change 2|verb.cognition 2|verb.communication 2|"
    "verb.competition 2|verb.consumption 2|verb.contact 2|verb.creation 2|verb.emotion 2|verb.motion 2|"
    "verb.perception 2|verb.possession 2|verb.social 2|verb.stative 2|verb.weather 2|adj.ppl 3"
)
_WORDNET_FILES = ("data.noun", "data.verb", "data.adj", "data.adv", "index.noun", "index.verb", "index.adj",
                  "index.adv", "noun.exc", "verb.exc", "adj.exc", "adv.exc")


class WordNetMissing(BioMatrixError, RuntimeError):
    pass


def wordnet_candidate_dirs() -> list[Path]:
    dirs = [os.environ.get("BIOMATRIX_WORDNET_DIR"), os.environ.get("WNSEARCHDIR"), "/usr/share/wordnet",
            "/usr/local/WordNet-3.0/dict", "/usr/share/WordNet-3.0/dict"]
    return [Path(d) for d in dirs if d]


@lru_cache(maxsize=1)
def load_wordnet():
    """An nltk WordNet reader built from local data only; raises WordNetMissing."""
    import nltk

    try:
        nltk.data.find("corpora/wordnet")
        from nltk.corpus import wordnet

        wordnet.ensure_loaded()
        return wordnet
    except LookupError:
        pass
    for directory in wordnet_candidate_dirs():
        if all((directory / f).exists() for f in _WORDNET_FILES):
            root = directory if (directory / "lexnames").exists() else _with_lexnames(directory)
            # nltk only opens files under its data path
            if str(root) not in nltk.data.path:
                nltk.data.path.append(str(root))
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="The multilingual functions")
                return _LocalWordNet(str(root), None)
    raise WordNetMissing(WORDNET_MISSING)


def _local_reader_class():
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class LocalWordNet(WordNetCorpusReader):
        """WordNet read from a database directory. nltk maps other WordNet versions onto 3.0 through its
        own downloadable corpus; a 3.0 database needs no mapping, anything else is refused."""

        def map_wn(self, version="wordnet"):
            found = self.get_version()
            if found != "3.0":
                raise WordNetMissing(f"WordNet {found} found; METEOR (nltk) expects WordNet 3.0. {WORDNET_MISSING}")
            return None

    return LocalWordNet


def _LocalWordNet(root: str, omw_reader):
    return _local_reader_class()(root, omw_reader)


def _with_lexnames(directory: Path) -> Path:
    """A cache copy of ``directory``'s database (~30 MB, once) plus the lexnames file. A copy, not links:
    nltk refuses files that resolve outside the reader's root."""
    import shutil

    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "biomatrix" / "wordnet"
    cache.mkdir(parents=True, exist_ok=True)
    for entry in directory.iterdir():
        target = cache / entry.name
        if entry.is_file() and (not target.exists() or target.stat().st_size != entry.stat().st_size):
            shutil.copyfile(entry, target)
    lexnames = "".join(
        f"{i:02d}\t{name}\t{cat}\n" for i, (name, cat) in enumerate(x.split() for x in _LEXNAMES.split("|"))
    )
    (cache / "lexnames").write_text(lexnames)
    return cache


_WORDS = re.compile(r"\w+|[^\w\s]")


def make_tokenizer(spec: str) -> Callable[[str], list[str]]:
    if spec == "regex":
        return _WORDS.findall
    if spec == "whitespace":
        return str.split
    if spec.startswith("hf:"):
        path = spec[3:]
        if not Path(path).exists():
            raise EvalInputError(f"tokenizer {spec!r}: {path} does not exist (a local tokenizer directory is needed)")
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        return tok.tokenize
    raise EvalInputError(f"tokenizer {spec!r}: expected regex, whitespace or hf:/path")




def _pairs(name: str, predictions: list, references: list):
    """(pred, ref) strings; references must be text, predictions that are not text count as empty."""
    out = []
    for i, (p, r) in enumerate(zip(predictions, references), start=1):
        if isinstance(r, list):
            r = r[0] if r and all(isinstance(x, str) for x in r) else None
        if not isinstance(r, str):
            raise EvalInputError(f"{name}: reference item {i} is not text")
        out.append((p.strip() if isinstance(p, str) else "", r.strip()))
    return out


def _bleu(name: str, n: int, predictions: list, references: list, tokenizer: str, empty: str) -> MetricResult:
    from nltk.translate.bleu_score import corpus_bleu

    tok = make_tokenizer(tokenizer)
    refs, hyps, n_bad = [], [], 0
    for pred, ref in _pairs(name, predictions, references):
        if not pred:
            n_bad += 1
            if empty == "skip":
                continue
        refs.append([tok(ref)])
        hyps.append(tok(pred))
    if not hyps:
        return MetricResult.not_computed(name, "no non-empty predictions", len(predictions), n_bad)
    weights = tuple([1.0 / n] * n)
    return MetricResult(name, float(corpus_bleu(refs, hyps, weights=weights)), len(predictions), n_bad)


def bleu2(predictions: list, references: list, tokenizer: str = "regex", empty: str = "skip") -> MetricResult:
    return _bleu("bleu2", 2, predictions, references, tokenizer, empty)


def bleu4(predictions: list, references: list, tokenizer: str = "regex", empty: str = "skip") -> MetricResult:
    return _bleu("bleu4", 4, predictions, references, tokenizer, empty)


def _mean_per_item(name: str, predictions: list, references: list, empty: str, score) -> MetricResult:
    values, n_bad = [], 0
    for pred, ref in _pairs(name, predictions, references):
        if not pred:
            n_bad += 1
            if empty == "zero":
                values.append(0.0)
            continue
        values.append(score(pred, ref))
    if not values:
        return MetricResult.not_computed(name, "no non-empty predictions", len(predictions), n_bad)
    return MetricResult(name, float(np.mean(values)), len(predictions), n_bad)


def _rouge(name: str, key: str, predictions: list, references: list, empty: str, stemmer: bool) -> MetricResult:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer([key], use_stemmer=stemmer)
    return _mean_per_item(name, predictions, references, empty,
                          lambda p, r: scorer.score(r, p)[key].fmeasure)




def rouge1(predictions: list, references: list, empty: str = "skip", stemmer: bool = False) -> MetricResult:
    return _rouge("rouge1", "rouge1", predictions, references, empty, stemmer)


def rouge2(predictions: list, references: list, empty: str = "skip", stemmer: bool = False) -> MetricResult:
    return _rouge("rouge2", "rouge2", predictions, references, empty, stemmer)


def rouge_l(predictions: list, references: list, empty: str = "skip", stemmer: bool = False) -> MetricResult:
    return _rouge("rouge_l", "rougeL", predictions, references, empty, stemmer)


def meteor(predictions: list, references: list, tokenizer: str = "regex", empty: str = "skip") -> MetricResult:
    from nltk.translate.meteor_score import meteor_score

    try:
        wordnet = load_wordnet()
    except WordNetMissing as exc:
        return MetricResult.not_computed("meteor", str(exc), len(predictions))
    tok = make_tokenizer(tokenizer)
    return _mean_per_item("meteor", predictions, references, empty,
                          lambda p, r: meteor_score([tok(r)], tok(p), wordnet=wordnet))
