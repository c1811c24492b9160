"""`python -m exporter.simulator ARGS`: the same as `tione-exporter simulate ARGS`."""

import sys

from exporter.simulator.command import main

raise SystemExit(main(sys.argv[1:]))
