"""The TI-ONE API's identity: the service name that signs every request and the version every action is called in.

Each action's name lives with the source that calls it (`listing.ACTION`, ...); the simulator imports
these so that it answers exactly what the exporter asks.
"""

from __future__ import annotations

SERVICE = "tione"
VERSION = "2021-11-11"
