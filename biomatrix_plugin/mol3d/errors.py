"""The one exception type of the mol3d area; its message names the record and the reason."""


class Mol3DError(ValueError):
    pass
