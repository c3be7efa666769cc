"""Delivery: the RabbitMQ topology, publishing, workers, transports and the outbox."""
