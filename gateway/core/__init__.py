"""The core: intake, access, statuses and receipts — every decision about a document."""
