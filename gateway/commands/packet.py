"""`edoc-gateway validate` and `edoc-gateway sign`: offline packet tools."""

from __future__ import annotations
