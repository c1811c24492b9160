"""The HTTP side: an ASGI app serving cached metrics, the status page and probes, run by uvicorn."""
