"""Prefect flows: the business process, read top to bottom."""
