"""Typed aiohttp application keys shared by the composition root and the adapters.

They live apart from ``gateway.app`` so that adapters can import them without importing
the composition root (which imports the adapters). Adapters read them from
``request.config_dict``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.config import Settings
from gateway.core.operations import Gateway
from gateway.core.receipts import NodeIdentity
from gateway.credentials.auth import Authenticator
from gateway.ops.health import Maintenance

GATEWAY = web.AppKey("gateway", Gateway)
SETTINGS = web.AppKey("settings", Settings)
DIRECTORY = web.AppKey("directory", Any)  # a gateway.directory.resolver.Directory
ENGINE = web.AppKey("engine", AsyncEngine)
BROKER = web.AppKey("broker", Any)  # a gateway.delivery.broker.Broker
BLOBS = web.AppKey("blobs", Any)  # a gateway.store.blobs.BlobStore
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
NODE = web.AppKey("node", NodeIdentity)
MAINTENANCE = web.AppKey("maintenance", Maintenance)
READER = web.AppKey("reader", AsyncEngine)  # reads' own engine (gateway.store.readers)
CALLING_SYSTEMS = web.AppKey("calling_systems", Any)  # gateway.credentials.live.SqlCallingSystems
SYSTEMS_STORE = web.AppKey("systems_store", Any)  # gateway.credentials.store.SystemsStore
DUTIES = web.AppKey("duties", Any)  # gateway.ops.duties.Scheduler
