"""Where the MolStrucTok checkpoint is looked for, the one message when it is missing, and its download.

No heavy imports here: a corpus build or a CLI parent process checks the checkpoint before it starts
workers or reads a record, without importing torch.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from biomatrix_plugin.mol3d.errors import CheckpointError

CHECKPOINT_ENV = "BIOMATRIX_MOLSTRUCTOK_CKPT"
CHECKPOINT_NAME = "molstructok_vqvae.bin"
RELEASE_REPO = "https://github.com/QizhiPei/BioMatrix"
RELEASE_PATH = "molstructok/checkpoints/molstructok_vqvae.bin"
DEFAULT_URL = f"{RELEASE_REPO}/raw/main/{RELEASE_PATH}"
DEFAULT_SHA256 = "22e66bd72c08c7bc98f964050dc8f9a8045cd4c29d568ccfd07fd06efdb7ffc6"
HOW_TO_GET = (f"get the released checkpoint (the BioMatrix repository's {RELEASE_PATH}, {RELEASE_REPO}, "
              f"Apache-2.0) with `biomatrix mol3d fetch-checkpoint`, or pass --checkpoint / set ${CHECKPOINT_ENV}")


def cache_path() -> Path:
    """``~/.cache/biomatrix/molstructok_vqvae.bin``: where ``fetch-checkpoint`` writes by default."""
    return Path.home() / ".cache" / "biomatrix" / CHECKPOINT_NAME


def search_paths() -> list[Path]:
    """The places looked at, in order: ``$BIOMATRIX_MOLSTRUCTOK_CKPT``, the cache, the reference folder."""
    from biomatrix_plugin.paths import reference_dir

    env = os.environ.get(CHECKPOINT_ENV)
    ref = reference_dir()
    return [*([Path(env)] if env else []), cache_path(), *([ref / CHECKPOINT_NAME] if ref else [])]


def require_checkpoint(path: str | os.PathLike | None = None) -> Path:
    """The checkpoint to use: ``path`` when given, else the first existing file of :func:`search_paths`.

    Raises :class:`CheckpointError` with one message saying where it looked and how to get the file."""
    if path:
        found = Path(path)
        if found.is_file():
            return found
        raise CheckpointError(f"MolStrucTok checkpoint {found}: no such file; {HOW_TO_GET}")
    candidates = search_paths()
    env = os.environ.get(CHECKPOINT_ENV)
    if env and not Path(env).is_file():  # an explicit setting that points nowhere is a mistake, not a miss
        raise CheckpointError(f"MolStrucTok checkpoint ${CHECKPOINT_ENV}={env}: no such file; {HOW_TO_GET}")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise CheckpointError(f"no MolStrucTok checkpoint found (looked in ${CHECKPOINT_ENV}, {looked}); {HOW_TO_GET}")


def fetch_checkpoint(url: str = DEFAULT_URL, sha256: str = DEFAULT_SHA256, out: str | os.PathLike | None = None,
                     timeout: float = 60.0) -> Path:
    """Download ``url`` to ``out`` (default :func:`cache_path`) whole or not at all: it is written under a
    temporary name in the same folder, its sha256 checked, and only then renamed into place. A wrong hash
    or a failed download leaves nothing behind (an existing file at ``out`` is untouched)."""
    dest = Path(out) if out else cache_path()
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CheckpointError(f"{dest.parent}: cannot create the folder ({exc.strerror})") from None
    tmp = dest.with_name(f".{dest.name}.part-{os.getpid()}")
    try:
        digest = _download(url, tmp, timeout)
        if digest != sha256.lower():
            raise CheckpointError(f"{url}: sha256 {digest} does not match the expected {sha256.lower()}; "
                                  f"nothing was written to {dest}")
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return dest


def _download(url: str, tmp: Path, timeout: float) -> str:
    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as fh:
            while block := response.read(1 << 20):
                h.update(block)
                fh.write(block)
            fh.flush()
            os.fsync(fh.fileno())
    except (urllib.error.URLError, OSError, ValueError) as exc:  # ValueError: a malformed URL
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
        raise CheckpointError(f"{url}: download failed ({reason}); download {RELEASE_PATH} from {RELEASE_REPO} "
                              f"by hand and pass --checkpoint, or give --url") from None
    return h.hexdigest()
