"""tione-exporter: Prometheus metrics for Tencent Cloud TI-ONE online inference services."""

__version__ = "0.1.0"
