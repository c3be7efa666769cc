"""`edoc-gateway serve` and `edoc-gateway demo`."""

from __future__ import annotations
