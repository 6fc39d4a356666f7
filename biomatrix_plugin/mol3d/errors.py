"""The one exception type of the mol3d area; its message names the record and the reason."""

from biomatrix_plugin.modalities.serialization import SerializationError


class Mol3DError(SerializationError):
    """A molecule or joint-token string MolStrucTok cannot handle. A ``SerializationError`` (hence a
    ``ValueError``), so corpus builders that reject on serialization errors reject these records too."""
