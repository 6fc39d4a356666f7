"""eval area (under construction)."""
