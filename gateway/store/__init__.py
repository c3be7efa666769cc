"""Durable storage: messages, deliveries, statuses, audit, directory, blobs."""
