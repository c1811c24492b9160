"""Label names and values that are always safe to expose.

API strings end up in label values and tag keys end up in label names, and both come from users of
TI-ONE: they may hold control characters, lone surrogates (valid JSON escapes that are not valid
UTF-8), megabytes of text, credentials inside image references, or keys that collide once sanitized.
Everything that becomes a label passes through here so that one hostile tag can never break the whole
exposition; the text the page and `/api/v1/attention` show passes through the same `clean_value`.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Protocol

from exporter.logs import redact

MAX_LABEL_VALUE_LENGTH = 512
"""Longer values are cut: a label value is an identifier, not a document."""

REGION_LABEL = "region"
"""The first identity label of every series drawn from a snapshot; each kind adds its own after it."""
ACCOUNT_LABEL = "account"
"""With YAML `accounts`, the identity label before `region` of every series drawn from a snapshot and of the
per-region self-metrics: the entry's `name`. Without accounts it appears nowhere."""


def target_key(account: str, region: str) -> str:
    """The poller's and the self-metrics' name of one (account, region) target: the region alone without
    accounts, `<account>/<region>` with them (an account name holds no `/`)."""
    return f"{account}/{region}" if account else region


def split_target(key: str) -> tuple[str, str]:
    """`(account, region)` of a `target_key` ("" for the account without accounts)."""
    account, _, region = key.rpartition("/")
    return account, region


KUBERNETES_SD_LABELS: tuple[str, ...] = ("namespace", "pod", "container", "service", "endpoint", "instance", "job")
"""Labels Kubernetes service discovery attaches to every target; a scraped label with one of these
names would be renamed `exported_<name>` by Prometheus, so the exporter never emits one of its own."""

RESERVED_LABELS: frozenset[str] = frozenset(KUBERNETES_SD_LABELS)
"""Names a tag label never takes (tag labels also start with `tag_`, which no identity label does)."""

TAG_LABEL_PREFIX = "tag_"
ALL_TAGS = "*"

_DROPPED = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
"""Control characters (Unicode category Cc) and lone surrogates (Cs): no UTF-8 encoder takes the latter."""
_NOT_NAME_CHARS = re.compile(r"[^a-z0-9]+")


def clean_value(value: str | None, limit: int | None = MAX_LABEL_VALUE_LENGTH) -> str:
    """Text safe to show: valid printable UTF-8, no credentials or secrets (`redact`), at most `limit`
    characters (None: no bound); None is "". Characters go before secrets are looked for, so a NUL inside a secret hides
    nothing."""
    if not value:
        return ""
    if not (value.isascii() and value.isprintable()):
        value = _DROPPED.sub("", value)
    return redact(value, limit)


def escape_value(value: str) -> str:
    """Escaping of both exposition formats; newlines are already gone after `clean_value`."""
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return value


def sanitize_tag_key(key: str) -> str:
    """`Team-Name` -> `team_name`, `Équipe` -> `equipe`, `cost.center` -> `cost_center`.

    Accents are folded to their base letter; every other character outside [a-z0-9] becomes `_`,
    runs of `_` collapse and leading or trailing ones go. A key with nothing left is `unnamed`.
    """
    decomposed = unicodedata.normalize("NFKD", key)
    folded = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return _NOT_NAME_CHARS.sub("_", folded.lower()).strip("_") or "unnamed"


@functools.lru_cache(maxsize=4096)
def tag_label_names(keys: tuple[str, ...]) -> tuple[str, ...]:
    """Label names for the raw tag keys `keys` (sorted, distinct), in the same order.

    A key whose sanitized name is already taken (by an earlier key or a Kubernetes service discovery
    label) gets `_2`, `_3`, ...: the same set of keys always gives the same names.
    """
    taken = set(RESERVED_LABELS)
    names: list[str] = []
    for key in keys:
        base = TAG_LABEL_PREFIX + sanitize_tag_key(key)
        name, suffix = base, 2
        while name in taken:
            name, suffix = f"{base}_{suffix}", suffix + 1
        taken.add(name)
        names.append(name)
    return tuple(names)


class Tag(Protocol):
    """A tag as the API sends it, in a service group, a service or a resource group."""

    @property
    def tag_key(self) -> str | None: ...

    @property
    def tag_value(self) -> str | None: ...


class TagSelection:
    """Which tag keys become labels: none, an allow-list of raw keys, or every key (`*`)."""

    __slots__ = ("_all", "_keys")

    def __init__(self, keys: Iterable[str]) -> None:
        allowed = frozenset(keys)
        self._all = ALL_TAGS in allowed
        self._keys = allowed - {ALL_TAGS}

    @property
    def enabled(self) -> bool:
        return self._all or bool(self._keys)

    def allows(self, key: str) -> bool:
        return self._all or key in self._keys

    def labels(self, tags: Sequence[Tag] | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(label names, label values) for the selected tags of one object, sorted by raw key.

        A tag without a key is skipped; a key given twice keeps its first value.
        """
        chosen: dict[str, str] = {}
        for tag in tags or ():
            key = tag.tag_key
            if key and key not in chosen and self.allows(key):
                chosen[key] = clean_value(tag.tag_value)
        keys = tuple(sorted(chosen))
        return tag_label_names(keys), tuple(chosen[key] for key in keys)
