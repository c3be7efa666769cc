"""Operations endpoints: ``/healthz``, ``/readyz``, ``/metrics`` and ``/maintenance``."""

from __future__ import annotations

from adapters.ops.app import CHECKER, build_ops_app, setup_routes

__all__ = ["CHECKER", "build_ops_app", "setup_routes"]
