"""Typed request keys shared by the REST adapter's admin modules."""

from __future__ import annotations

from aiohttp import web

ADMIN_ACTOR = web.RequestKey("admin_actor", str)  # who made an admin call, for the audit
