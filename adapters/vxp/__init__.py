"""vxp adapter."""
