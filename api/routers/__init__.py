"""Routers, one per area of the service."""
