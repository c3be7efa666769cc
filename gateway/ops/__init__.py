"""Operating a node: health, metrics, alerts, reports and scheduled duties."""
