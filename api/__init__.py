"""HTTP service (FastAPI): thin routers over engine, grouper and weights."""
