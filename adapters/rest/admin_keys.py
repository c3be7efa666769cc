"""Typed request keys shared by the admin API's modules (set by its authentication)."""

from __future__ import annotations

from aiohttp import web

# Who acts: ``admin:<token fingerprint>[:<X-Admin-User>]``, set by the admin middleware.
ACTOR = web.RequestKey("admin_actor", str)
