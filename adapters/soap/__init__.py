"""soap adapter."""
