"""Protocol adapters at the edge of the gateway (REST, VXP, SOAP, push)."""
