"""The agency directory: codes, lifecycle, import/export, search and sync."""
