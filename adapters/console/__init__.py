"""Operator web console at ``/console/``: server-rendered pages (aiohttp-jinja2), sessions
for the store's operator accounts, Vietnamese by default with English switchable."""
