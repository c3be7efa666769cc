"""The document exchange gateway: intake, storage, routing and delivery of edXML packets."""
