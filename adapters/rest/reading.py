"""JSON encoding of API v1 answers (bodies are read by the edge, ``adapters.edge``)."""

from __future__ import annotations

import json
from typing import Any


def dumps(value: Any) -> str:
    """JSON with UTF-8 text kept as is (Vietnamese messages stay readable)."""
    return json.dumps(value, ensure_ascii=False)
