"""push adapter."""
