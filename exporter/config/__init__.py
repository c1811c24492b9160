"""The exporter's settings: command-line flags > `TIONE_EXPORTER_*` environment > YAML file > defaults.

One package, one job a module: `settings` declares every setting once (`options` derives each one's flag,
variable, YAML key and help from that declaration), `values` and `patterns` parse and bound the values,
`files` reads the YAML file within its limits, `layers` turns flags, environment and file into settings
sources, and `load` merges and checks them. Everything the rest of the exporter uses is named here.
"""

from exporter.config.layers import unknown_environment
from exporter.config.load import REGION_ENV, listing_filters, load_settings
from exporter.config.options import ENV_PREFIX, Option, Section
from exporter.config.settings import DEFAULT_ENDPOINT, FLAG_OPTIONS, KEY_OPTIONS, OPTIONS, SECTIONS, Settings
from exporter.console import ConfigError

__all__ = [
    "DEFAULT_ENDPOINT",
    "ENV_PREFIX",
    "FLAG_OPTIONS",
    "KEY_OPTIONS",
    "OPTIONS",
    "REGION_ENV",
    "SECTIONS",
    "ConfigError",
    "Option",
    "Section",
    "Settings",
    "listing_filters",
    "load_settings",
    "unknown_environment",
]
