"""Typed aiohttp application keys shared by the composition root and the adapters.

They live apart from ``gateway.app`` so that adapters can import them without importing
the composition root (which imports the adapters). Adapters read them from
``request.config_dict``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.auth import Authenticator
from gateway.config import Settings
from gateway.core import Gateway
from gateway.health import Maintenance
from gateway.receipts import NodeIdentity

GATEWAY = web.AppKey("gateway", Gateway)
SETTINGS = web.AppKey("settings", Settings)
DIRECTORY = web.AppKey("directory", Any)  # a gateway.directory.Directory
ENGINE = web.AppKey("engine", AsyncEngine)
BROKER = web.AppKey("broker", Any)  # a gateway.broker.Broker
BLOBS = web.AppKey("blobs", Any)  # a gateway.store.blobs.BlobStore
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
NODE = web.AppKey("node", NodeIdentity)
MAINTENANCE = web.AppKey("maintenance", Maintenance)
READER = web.AppKey("reader", AsyncEngine)  # reads' own engine (gateway.store.readers)
CALLING_SYSTEMS = web.AppKey("calling_systems", Any)  # gateway.credentials_sql.SqlCallingSystems
SYSTEMS_STORE = web.AppKey("systems_store", Any)  # gateway.credentials_store.SystemsStore
DUTIES = web.AppKey("duties", Any)  # gateway.duties.Scheduler
