"""Metrics: the families by kind of object, rendering of snapshots to bytes, and the exporter's own metrics.

Pure code: no I/O, and nothing from the poller, the web server or the API client.
"""
