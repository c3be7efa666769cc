"""Who may call: calling systems, their secrets, request signing and operators."""
