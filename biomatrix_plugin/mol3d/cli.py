def register(subparsers):
    """Sub-commands of this area; filled in by its issue."""
