"""The one io layer: every reader and writer of the package goes through these.

- :func:`open_text`: plain or gzip by suffix; a missing, truncated or non-gzip file is an
  :class:`InputFileError` naming the file (and, for a truncated stream, how far it was read).
- :func:`iter_lines` / :func:`iter_jsonl`: numbered lines for error messages; a line that is not UTF-8
  (or not JSON) comes back as an error for that line, so a build can file a reject and go on.
- :func:`text_blocks` / :func:`sdf_blocks`: records ending with a terminator line (SDF ``$$$$``).
- :func:`atomic_write` / :func:`atomic_output`: output is there whole or not at all (temporary name in the
  same folder, fsync, rename).
- :func:`quiet_rdkit`: silence RDKit's logger for a block and restore it afterwards.
- :func:`file_sha256`.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterator

from biomatrix_plugin.errors import InputFileError

PathLike = str | os.PathLike

_GZIP_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error)


def is_gzip(path: PathLike) -> bool:
    return str(path).endswith(".gz")


class _CheckedBinary(io.RawIOBase):
    """A binary stream whose gzip failures (truncation, not gzip, corrupt) become InputFileError."""

    def __init__(self, path: str, raw: IO[bytes]):
        self._path, self._raw, self._pos = path, raw, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            data = self._raw.read(len(buffer))
        except _GZIP_ERRORS as exc:
            what = "not a gzip file" if isinstance(exc, gzip.BadGzipFile) and self._pos == 0 else \
                f"truncated or corrupt gzip stream after {self._pos:,} uncompressed bytes"
            raise InputFileError(f"{self._path}: {what} ({exc})") from None
        n = len(data)
        buffer[:n] = data
        self._pos += n
        return n

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


def open_binary(path: PathLike) -> IO[bytes]:
    """Open for reading bytes, decompressing ``*.gz``; errors name the file."""
    path = str(path)
    try:
        raw: IO[bytes] = gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputFileError(f"{path}: is a directory, expected a file") from None
    except PermissionError:
        raise InputFileError(f"{path}: permission denied") from None
    if not is_gzip(path):
        return raw
    return io.BufferedReader(_CheckedBinary(path, raw), buffer_size=1 << 16)


def open_text(path: PathLike, errors: str = "strict", newline: str | None = "") -> IO[str]:
    """Open for reading text (UTF-8), decompressing ``*.gz``. With ``errors="strict"`` a non-UTF-8 byte
    raises :class:`InputFileError` naming the file; readers that need per-line rejects use
    :func:`iter_lines`. ``newline=""`` keeps line endings as they are (byte-identical re-serialization)."""
    binary = open_binary(path)
    return _NamedText(str(path), binary, errors=errors, newline=newline)


class _NamedText(io.TextIOWrapper):
    def __init__(self, path: str, binary, errors: str, newline):
        super().__init__(binary, encoding="utf-8", errors=errors, newline=newline)
        self._bm_path = path

    def __next__(self):
        try:
            return super().__next__()
        except UnicodeDecodeError as exc:
            raise InputFileError(f"{self._bm_path}: not UTF-8 text ({exc.reason} at byte {exc.start} of a "
                                 f"read block)") from None

    def read(self, *args):
        try:
            return super().read(*args)
        except UnicodeDecodeError as exc:
            raise InputFileError(f"{self._bm_path}: not UTF-8 text ({exc.reason})") from None


@dataclass(frozen=True)
class BadLine:
    """A line that could not be decoded (or parsed); ``reason`` says why."""

    raw: bytes
    reason: str


def iter_lines(path: PathLike) -> Iterator[tuple[int, str | BadLine]]:
    """``(line_number, text)`` for every line (1-based, endings kept); a non-UTF-8 line is a BadLine."""
    with open_binary(path) as fh:
        for number, raw in enumerate(fh, 1):
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield number, BadLine(raw, f"not UTF-8 ({exc.reason} at column {exc.start + 1})")


def iter_jsonl(path: PathLike, skip_blank: bool = True) -> Iterator[tuple[int, object, str | None]]:
    """``(line_number, value, error)`` per line: value is the parsed JSON (None with an error message
    when the line is not UTF-8 or not JSON). Blank lines are skipped unless ``skip_blank`` is False."""
    for number, line in iter_lines(path):
        if isinstance(line, BadLine):
            yield number, None, line.reason
            continue
        if skip_blank and not line.strip():
            continue
        try:
            yield number, json.loads(line), None
        except json.JSONDecodeError as exc:
            yield number, None, f"not JSON ({exc.msg} at column {exc.colno})"


def text_blocks(path: PathLike, terminator: str, keep_terminator: bool = True) -> Iterator[str]:
    """Text blocks ending with a line equal to ``terminator`` (SDF ``$$$$``, UniProt ``//``).

    A trailing block without terminator is still yielded so that a truncated file produces a reject
    (with the parser's reason) instead of vanishing."""
    buf: list[str] = []
    with open_text(path) as fh:
        for line in fh:
            if line.rstrip("\r\n") == terminator:
                if keep_terminator:
                    buf.append(line)
                yield "".join(buf)
                buf = []
            else:
                buf.append(line)
    if any(part.strip() for part in buf):
        yield "".join(buf)


def sdf_blocks(path: PathLike, keep_terminator: bool = False) -> Iterator[str]:
    """Each SDF record's text (molblock + data items), split on ``$$$$`` lines."""
    return text_blocks(path, "$$$$", keep_terminator=keep_terminator)


def load_json(path: PathLike) -> Any:
    """A whole JSON file (``.gz`` too): invalid JSON or non-UTF-8 text is an :class:`InputFileError` naming
    the file and the line/column (or byte offset), as every reader reports a bad input file."""
    import json

    with open_text(path) as fh:
        try:
            return json.load(fh)
        except json.JSONDecodeError as exc:
            raise InputFileError(f"{path}: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
        except UnicodeDecodeError as exc:
            raise InputFileError(f"{path}: not UTF-8 text (byte offset {exc.start})") from None


def file_sha256(path: PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


@contextlib.contextmanager
def atomic_output(path: PathLike, mode: str = "w") -> Iterator[IO]:
    """Write ``path`` through a temporary file in the same folder that replaces it only when the block
    ends without an exception (then fsync + rename); on an exception the temporary file is removed."""
    path = Path(path)
    tmp = _temp_name(path)
    kwargs = {"encoding": "utf-8"} if "b" not in mode else {}
    try:
        fh = open(tmp, mode, **kwargs)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot write ({exc.strerror})") from None
    try:
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write(path: PathLike, data: str | bytes) -> None:
    """Write all of ``data`` to ``path`` or nothing (see :func:`atomic_output`)."""
    with atomic_output(path, "wb" if isinstance(data, bytes) else "w") as fh:
        fh.write(data)


@contextlib.contextmanager
def quiet_rdkit() -> Iterator[None]:
    """Silence RDKit's warnings/errors inside the block; the previous log state is restored afterwards
    (RDKit's own ``BlockLogs``), unlike ``RDLogger.DisableLog`` which silences the whole process."""
    from rdkit import rdBase

    blocker = rdBase.BlockLogs()
    try:
        yield
    finally:
        del blocker
