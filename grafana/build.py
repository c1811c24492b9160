"""Write the dashboards' JSON (`python -m grafana.build`), or check that the committed JSON is what the code
builds (`python -m grafana.build --check`, exit 1 and the stale files named when it is not).

The JSON is committed so that users can import or provision it without Python; this keeps it honest.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard as dashboard_builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from grafana import exporter_health, overview, service_group

OUTPUT = Path(__file__).resolve().parent / "dashboards"

DASHBOARDS: dict[str, Callable[[], dashboard_builder.Dashboard]] = {
    overview.UID: overview.build,
    service_group.UID: service_group.build,
    exporter_health.UID: exporter_health.build,
}


def to_json(builder: dashboard_builder.Dashboard) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model, with panel ids numbered in order (Grafana needs them unique)."""
    model: dict[str, Any] = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    for number, panel in enumerate(model["panels"], start=1):
        panel["id"] = number
    return model


def render(builder: dashboard_builder.Dashboard) -> str:
    return json.dumps(to_json(builder), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def rendered() -> dict[Path, str]:
    """Every dashboard's file and its expected content."""
    return {OUTPUT / f"{uid}.json": render(build()) for uid, build in DASHBOARDS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grafana.build", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 if out of date")
    args = parser.parse_args(argv)
    files = rendered()
    stale = sorted(path for path in OUTPUT.glob("*.json") if path not in files)
    if args.check:
        stale += [path for path, text in files.items() if not path.exists() or path.read_text() != text]
        for path in stale:
            print(f"out of date: {path.relative_to(OUTPUT.parent.parent)}", file=sys.stderr)
        if stale:
            print("run: python -m grafana.build", file=sys.stderr)
        return 1 if stale else 0
    OUTPUT.mkdir(exist_ok=True)
    for path in stale:
        path.unlink()
    for path, text in files.items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
