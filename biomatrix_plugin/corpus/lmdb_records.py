"""PEER / TAPE-style LMDB splits as records: one environment per split, the record count pickled under the
key ``num_examples``, record ``i`` a pickled dict under the key ``str(i)`` (torchdrug ``load_lmdbs``).

The values are pickles written by someone else, so they are never given to :func:`pickle.loads`: a
:class:`SafeUnpickler` resolves only the globals a plain-data pickle needs (numpy arrays, numpy scalars and
dtypes; ``_codecs.encode`` with latin-1, which protocol-2 pickles use for raw bytes; ``set``, ``frozenset``,
``complex``) and refuses every other global (``os.system``, a class of a package), so such a record becomes a
:class:`BadRecord` naming its key and the refused name instead of running code.

Numpy values are turned into plain Python values as torchdrug does before use: a size-1 array or a numpy
scalar into its ``.item()``, a larger array into a (nested) list; records stay JSON-able.

The path is the environment folder (``pdbind/pdbind_train.lmdb``) or its ``data.mdb`` file (what a task
file's path pattern names, since the input resolver matches files); both open read-only without a lock
file, so a read-only dataset copy can be read.

A record the reader cannot use (a missing key, a refused global, a value that is not a dict) is one
BadRecord at its position ``i``; keys beyond ``num_examples`` are BadRecords after the last record (never a
silent drop). A missing or unreadable environment, or a missing/invalid ``num_examples``, is an
:class:`~biomatrix_plugin.errors.InputFileError` for the whole split.
"""

from __future__ import annotations

import importlib
import io
import os
import pickle
from typing import Any, Iterator

from biomatrix_plugin.corpus.records import BadRecord
from biomatrix_plugin.errors import InputFileError

NUMBER_KEY = b"num_examples"
DATA_FILE = "data.mdb"
_MISSING = "key missing (num_examples promises it)"


def _numpy_module(name: str):
    try:  # numpy >= 2 moved numpy.core to numpy._core; pickles written by numpy 1.x still name numpy.core
        return importlib.import_module(f"numpy._core.{name}")
    except ImportError:
        return importlib.import_module(f"numpy.core.{name}")


def _latin1_encode(obj: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles call it (bytes written as a latin-1 str); any other codec
    (zlib, base64: a decompression bomb, a code path nobody expects) is refused."""
    if encoding.lower().replace("_", "-") not in ("latin1", "latin-1", "iso-8859-1") or not isinstance(obj, str):
        raise pickle.UnpicklingError(f"refused _codecs.encode with encoding {encoding!r}")
    return obj.encode("latin-1", errors)


def _allowed_globals() -> dict[tuple[str, str], Any]:
    import numpy as np

    multiarray, numeric = _numpy_module("multiarray"), _numpy_module("numeric")
    table: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "complex"): complex,
        ("__builtin__", "set"): set,  # Python 2 pickles
        ("__builtin__", "frozenset"): frozenset,
        ("__builtin__", "complex"): complex,
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        table[(module, "_reconstruct")] = multiarray._reconstruct
        table[(module, "scalar")] = multiarray.scalar
    for module in ("numpy.core.numeric", "numpy._core.numeric"):  # protocol 5 rebuilds arrays from a buffer
        table[(module, "_frombuffer")] = numeric._frombuffer
    return table


_ALLOWED: dict[tuple[str, str], Any] | None = None


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle asked for a global outside the plain-data table."""


class SafeUnpickler(pickle.Unpickler):
    """An unpickler for plain data: builtin containers and scalars (no global needed) plus the numpy
    array machinery; every other global is a :class:`RefusedGlobal` naming it."""

    def find_class(self, module: str, name: str) -> Any:
        global _ALLOWED
        if _ALLOWED is None:
            _ALLOWED = _allowed_globals()
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise RefusedGlobal(f"refused global {module}.{name} (only plain types and numpy arrays are "
                                f"unpickled)") from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refused persistent id (only plain data is unpickled)")


def safe_loads(data: bytes) -> Any:
    """Unpickle plain data only; raises :class:`pickle.UnpicklingError` (or a decoding error) otherwise."""
    return SafeUnpickler(io.BytesIO(data), encoding="latin1").load()


def plain(value: Any) -> Any:
    """Numpy values -> Python values (size-1 array or scalar -> ``.item()``, array -> list), recursively
    through dicts, lists and tuples; bytes and everything else unchanged."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.reshape(-1)[0].item() if value.size == 1 else value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    return value


def _open(path: str):
    import lmdb

    if not os.path.exists(path):
        raise InputFileError(f"{path}: no such LMDB environment (folder or {DATA_FILE})")
    subdir = os.path.isdir(path)
    if subdir and not os.path.isfile(os.path.join(path, DATA_FILE)):
        raise InputFileError(f"{path}: folder without {DATA_FILE}, not an LMDB environment")
    try:
        return lmdb.open(path, subdir=subdir, readonly=True, lock=False, readahead=False, meminit=False,
                         max_readers=1)
    except lmdb.Error as exc:
        raise InputFileError(f"{path}: not a readable LMDB environment ({exc})") from None


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if isinstance(exc, pickle.UnpicklingError) and text else f"{type(exc).__name__}: {text}"


def _count(txn, path: str) -> int:
    data = txn.get(NUMBER_KEY)
    if data is None:
        raise InputFileError(f"{path}: no {NUMBER_KEY.decode()!r} key (not a PEER/TAPE LMDB split)")
    try:
        value = plain(safe_loads(data))
    except Exception as exc:  # a refused global, a truncated pickle: the split cannot be read
        raise InputFileError(f"{path}: {NUMBER_KEY.decode()!r} is not a readable pickle ({_describe(exc)})") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputFileError(f"{path}: {NUMBER_KEY.decode()!r} is {value!r}, expected a count >= 0")
    return value


def _record(txn, i: int) -> dict | BadRecord:
    key = str(i)
    data = txn.get(key.encode())
    if data is None:
        return BadRecord(f"LMDB record {key!r}: {_MISSING}")
    try:
        value = safe_loads(data)
    except Exception as exc:  # RefusedGlobal, truncated data, an unknown opcode: this record only
        return BadRecord(f"LMDB record {key!r}: {_describe(exc)}")
    if not isinstance(value, dict):
        return BadRecord(f"LMDB record {key!r}: a pickled {type(value).__name__}, expected a dict")
    try:
        return plain(value)
    except Exception as exc:  # an object array whose items numpy cannot convert
        return BadRecord(f"LMDB record {key!r}: {_describe(exc)}")


def _extra_keys(txn, n: int) -> list[bytes]:
    expected = {str(i).encode() for i in range(n)} | {NUMBER_KEY}
    with txn.cursor() as cursor:
        return [key for key in cursor.iternext(keys=True, values=False) if key not in expected]


def iter_lmdb(path: str) -> Iterator[dict | BadRecord]:
    """Records ``0 .. num_examples-1`` of one LMDB split, in index order (position = index), then one
    BadRecord per key that is neither a record index nor ``num_examples``."""
    env = _open(str(path))
    try:
        with env.begin(write=False, buffers=False) as txn:
            n = _count(txn, str(path))
            missing = 0
            for i in range(n):
                record = _record(txn, i)
                missing += isinstance(record, BadRecord) and record.reason.endswith(_MISSING)
                yield record
            if env.stat()["entries"] != n + 1 - missing:  # something besides the records: find it
                for key in _extra_keys(txn, n):
                    shown = key.decode("utf-8", "backslashreplace")
                    yield BadRecord(f"LMDB key {shown!r}: not a record index below num_examples={n} (ignored "
                                    f"by torchdrug; listed here so nothing is dropped silently)")
    finally:
        env.close()


def write_lmdb(path: str | os.PathLike, records: list[Any], protocol: int = pickle.HIGHEST_PROTOCOL,
               num_examples: int | None = None) -> None:
    """Write one split in the published layout (a folder with ``data.mdb``; ``num_examples`` then records
    under "0".."n-1"), for fixtures and benchmarks. A ``bytes`` item is stored as is (a hand-made pickle,
    to test refusals), a ``None`` item leaves its key out; ``num_examples`` defaults to the item count."""
    import lmdb

    os.makedirs(path, exist_ok=True)
    size = sum(len(r) if isinstance(r, bytes) else 256 + len(repr(r)) * 2 for r in records if r is not None)
    env = lmdb.open(str(path), map_size=max(1 << 20, size * 4), subdir=True, lock=False, meminit=False)
    try:
        with env.begin(write=True) as txn:
            count = len(records) if num_examples is None else num_examples
            txn.put(NUMBER_KEY, pickle.dumps(count, protocol=protocol))
            for i, record in enumerate(records):
                if record is None:  # a key num_examples promises but the split lacks
                    continue
                data = record if isinstance(record, bytes) else pickle.dumps(record, protocol=protocol)
                txn.put(str(i).encode(), data)
    finally:
        env.close()
