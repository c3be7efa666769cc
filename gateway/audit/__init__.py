"""The tamper-evident audit trail: the chain, batched refusals and queries."""
