"""Prefect task wrappers: retries, timeouts, tags and cache keys around the stage packages."""
