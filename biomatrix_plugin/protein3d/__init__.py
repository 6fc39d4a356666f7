"""protein3d area (under construction)."""
