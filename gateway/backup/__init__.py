"""Backups and restores of a node's store and blobs."""
