"""mol3d area (under construction)."""
