"""Reading `--config.file`, which may be the wrong file or a hostile one: bounded before it is parsed.

A FIFO would block, `/dev/zero` never ends, a log of gigabytes takes seconds and gigabytes to parse, and
YAML nested tens of thousands deep crashes libyaml's C stack: each is one error line naming the file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from exporter.config.values import shown
from exporter.console import ConfigError
from exporter.files import FileRefusedError, read_small_file

MAX_FILE_BYTES = 256 * 1024
"""The largest `--config.file`. Every setting with long filter lists fits in a few KiB; a bigger file is the
wrong file (a log, an image, `/dev/zero`), and parsing megabytes of YAML takes seconds and gigabytes."""
MAX_NESTING = 100
"""Levels of YAML nesting in the configuration file at most; the settings need four."""


def read_yaml(path: Path, where: str) -> object:
    """The file's YAML document (None when empty), or a `ConfigError` line beginning with `where`.

    Bounded before it is parsed: the file by its kind and size, the YAML by its nesting.
    """
    text = _read_text(path, where)
    if _nesting(text) > MAX_NESTING:
        raise ConfigError([f"{where}: invalid YAML: nested more than {MAX_NESTING} levels deep"])
    try:
        document = yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader, libyaml's when present
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        position = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "not valid YAML"
        raise ConfigError([f"{where}: invalid YAML{position}: {problem}"]) from None
    except RecursionError:
        raise ConfigError([f"{where}: invalid YAML: nested too deeply"]) from None
    except ValueError as error:  # an integer of thousands of digits
        raise ConfigError([f"{where}: invalid YAML: {shown(error)}"]) from None
    return document


_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML was built with it: ten times faster than the pure-Python one."""


def _read_text(path: Path, where: str) -> str:
    """The file's text; a FIFO, a device or a file over `MAX_FILE_BYTES` is refused before it is read."""
    try:
        data = read_small_file(path, MAX_FILE_BYTES, "a configuration file")
    except FileRefusedError as refused:
        raise ConfigError([f"{where}: {refused}"]) from None
    except OSError as error:
        raise ConfigError([f"{where}: cannot read the file: {error.strerror or error}"]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError([f"{where}: the file is not UTF-8 text"]) from None


def _nesting(text: str) -> int:
    """An upper bound of the YAML's nesting in flow (`[[[`) and compact block (`- - -`) style, from the text.

    Counted before parsing because libyaml's parser takes time quadratic in the depth and overflows the C
    stack at tens of thousands of levels (a crash, not an error). Brackets inside quoted strings count too:
    a real configuration is never within sight of the limit. Nesting by indentation is bounded by the size.
    """
    flow = deepest = 0
    for match in re.finditer(r"[\[\]{}]", text):
        flow = flow + 1 if match.group() in "[{" else max(0, flow - 1)
        deepest = max(deepest, flow)
    compact = max((line.count("- ") + line.count("? ") for line in text.splitlines()), default=0)
    return deepest + compact
