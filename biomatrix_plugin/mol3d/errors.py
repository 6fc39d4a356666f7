"""The exception types of the mol3d area; each message names the record (or file) and the reason."""

from biomatrix_plugin.errors import ConfigError
from biomatrix_plugin.modalities.serialization import SerializationError


class Mol3DError(SerializationError):
    """A molecule or joint-token string MolStrucTok cannot handle. A ``SerializationError`` (hence a
    ``ValueError``), so corpus builders that reject on serialization errors reject these records too."""


class CheckpointError(ConfigError, Mol3DError):
    """The MolStrucTok checkpoint is missing, unreadable or has the wrong hash: a configuration error that
    stops a run before its first record (callers should check with ``require_checkpoint`` up front, since
    a per-record ``except SerializationError`` would turn it into one reject per molecule). It is also a
    ``Mol3DError`` so code that caught the old missing-checkpoint error keeps working."""
