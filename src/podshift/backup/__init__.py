"""Verified, atomic backups of a Compose project's configuration and volume data."""
