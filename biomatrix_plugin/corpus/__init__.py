"""corpus area (under construction)."""
