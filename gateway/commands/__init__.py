"""Command groups of the ``edoc-gateway`` CLI, one module per group; wired in ``gateway.cli``."""
