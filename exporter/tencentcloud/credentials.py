"""API keys and their providers: the keys, the providers that read them where users put them (the
environment, `*_FILE` files, the credentials file), and the renewal every provider of temporary keys shares.

The providers of a role's temporary keys are in `roles.py` (CVM instance role, TKE workload identity) and
`assume_role.py`; the order they are tried in is `chain.py`'s. Errors are `CredentialError(provider,
reason)`: one line naming the source and what is wrong with it (a variable name, a path, a field), never a
value read from it.
"""

from __future__ import annotations

import asyncio
import configparser
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from exporter.files import FileRefusedError, read_small_file
from exporter.tencentcloud.errors import CredentialError

log = logging.getLogger(__name__)

# Names of variables, not values:
ENV_SECRET_ID = "TENCENTCLOUD_SECRET_ID"  # noqa: S105
ENV_SECRET_KEY = "TENCENTCLOUD_SECRET_KEY"  # noqa: S105
ENV_TOKEN = "TENCENTCLOUD_SECURITY_TOKEN"  # noqa: S105
FILE_SUFFIX = "_FILE"
ENV_CREDENTIALS_FILE = "TENCENTCLOUD_CREDENTIALS_FILE"
DEFAULT_CREDENTIALS_FILES = ("~/.tencentcloud/credentials", "/etc/tencentcloud/credentials")

DEFAULT_METADATA_URL = "http://metadata.tencentyun.com"
METADATA_ROLE_PATH = "/latest/meta-data/cam/security-credentials/"

ENV_TKE_REGION = "TKE_REGION"
ENV_TKE_PROVIDER_ID = "TKE_PROVIDER_ID"
ENV_TKE_TOKEN_FILE = "TKE_WEB_IDENTITY_TOKEN_FILE"  # noqa: S105
ENV_TKE_ROLE_ARN = "TKE_ROLE_ARN"
DEFAULT_STS_ENDPOINT = "https://sts.tencentcloudapi.com"
STS_SERVICE = "sts"
STS_VERSION = "2018-08-13"
STS_ACTION = "AssumeRoleWithWebIdentity"

MAX_SECRET_FILE_BYTES = 64 * 1024
"""A key, a session token, a TKE identity token or a credentials file is at most a few kilobytes; a larger
file, a FIFO or a device (`/dev/zero`) is refused before it is read rather than hang or fill the memory."""

DEFAULT_REFRESH_MARGIN = 300.0
"""Temporary keys are renewed this many seconds before they expire (a signature is valid for 5 minutes)."""
RENEW_SHARE = 0.25
"""...but at most this share of their lifetime before: keys that live a minute are renewed after 45 s."""
DEFAULT_RETRY_BASE = 1.0
DEFAULT_RETRY_CAP = 60.0
"""A failed renewal is tried again after 1 s, 2 s, 4 s... at most a minute apart."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """A key pair and, for temporary keys, the session token; only the id is shown by repr and str."""

    secret_id: str
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        token = ", token=***" if self.token else ""
        return f"Credentials(secret_id={self.secret_id!r}, secret_key=***{token})"

    __str__ = __repr__


class CredentialProvider(Protocol):
    """Anything that can hand out current credentials; `get()` may refresh them and is safe to call often."""

    @property
    def name(self) -> str: ...

    async def get(self) -> Credentials: ...


class DiscoverableProvider(CredentialProvider, Protocol):
    """A provider the default chain can ask whether it is configured at all."""

    async def available(self) -> bool: ...


class StaticProvider:
    """Fixed credentials given in code (tests, the simulator's demo mode)."""

    def __init__(self, credentials: Credentials, name: str = "static") -> None:
        self._credentials = credentials
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    async def available(self) -> bool:
        return True

    async def get(self) -> Credentials:
        return self._credentials


def _header_safe(value: str) -> bool:
    """Printable ASCII without spaces: what an HTTP header (and the signature) can carry as it is."""
    return all("!" <= ch <= "~" for ch in value)


def unusable_part(credentials: Credentials) -> str | None:
    """Which part of the credentials cannot be sent in a request header, if any (never its value).

    A BOM, a stray newline or a non-ASCII character would otherwise surface as an encoding error deep
    in the HTTP stack, quoting the value it choked on.
    """
    parts = (("secret id", credentials.secret_id), ("secret key", credentials.secret_key))
    for label, value in (*parts, ("session token", credentials.token or "")):
        if not _header_safe(value):
            return label
    return None


def _checked(provider: str, secret_id: str, secret_key: str, token: str | None) -> Credentials:
    if not secret_id:
        raise CredentialError(provider, "secret id is empty")
    if not secret_key:
        raise CredentialError(provider, "secret key is empty")
    credentials = Credentials(secret_id, secret_key, token or None)
    part = unusable_part(credentials)
    if part is not None:
        raise CredentialError(provider, f"{part} contains whitespace, control or non-ASCII characters")
    return credentials


class _FileReader:
    """Reads small secret files, again only when their inode, size or modification time changed."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[tuple[int, int, int], str]] = {}

    def read(self, provider: str, label: str, path: str) -> str:
        try:
            stat = os.stat(path)
            key = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
            cached = self._cache.get(path)
            if cached is not None and cached[0] == key:
                return cached[1]
            data = read_small_file(path, MAX_SECRET_FILE_BYTES, "a secret file")
            text = data.decode("utf-8-sig").strip()  # -sig: editors on some systems add a BOM
        except FileRefusedError as refused:
            raise CredentialError(provider, f"{label} {path}: {refused}") from None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise CredentialError(provider, f"cannot read {label} {path}: {reason}") from None
        except UnicodeDecodeError:
            raise CredentialError(provider, f"{label} {path} is not UTF-8 text") from None
        self._cache[path] = (key, text)
        return text


class EnvProvider:
    """Keys from environment variables, each of which may instead name a file holding the value.

    `files=False` is the plain-variables provider (configured when `TENCENTCLOUD_SECRET_ID` or
    `TENCENTCLOUD_SECRET_KEY` is set); `files=True` is the `*_FILE` provider (configured when
    `TENCENTCLOUD_SECRET_ID_FILE` or `TENCENTCLOUD_SECRET_KEY_FILE` is set). Both resolve each value the
    same way: the variable itself, else its `_FILE` variant, so the two forms may be mixed.
    """

    def __init__(self, environ: Mapping[str, str] | None = None, *, files: bool = False) -> None:
        self._environ: Mapping[str, str] = os.environ if environ is None else environ
        self._files = files
        self._reader = _FileReader()

    @property
    def name(self) -> str:
        return "environment files" if self._files else "environment"

    async def available(self) -> bool:
        suffix = FILE_SUFFIX if self._files else ""
        return any(self._environ.get(name + suffix, "").strip() for name in (ENV_SECRET_ID, ENV_SECRET_KEY))

    def _value(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        if value:
            return value
        path = self._environ.get(name + FILE_SUFFIX, "").strip()
        if path:
            return self._reader.read(self.name, name + FILE_SUFFIX, path) or None
        return None

    async def get(self) -> Credentials:
        secret_id = self._value(ENV_SECRET_ID)
        secret_key = self._value(ENV_SECRET_KEY)
        for variable, value in ((ENV_SECRET_ID, secret_id), (ENV_SECRET_KEY, secret_key)):
            if not value:
                raise CredentialError(self.name, f"neither {variable} nor {variable}{FILE_SUFFIX} gives a value")
        assert secret_id is not None and secret_key is not None
        return _checked(self.name, secret_id, secret_key, self._value(ENV_TOKEN))


def _strip_quotes(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1].strip()
    return value


class ProfileFileProvider:
    """The INI credentials file of the Tencent Cloud CLI and SDKs (`[default]` `secret_id`, `secret_key`).

    Re-read when it changes. An explicitly named file (argument or `TENCENTCLOUD_CREDENTIALS_FILE`) is
    always "configured", so a wrong path is reported rather than skipped.
    """

    name = "credentials file"

    def __init__(self, path: str | None = None, environ: Mapping[str, str] | None = None) -> None:
        self._explicit = path
        self._environ: Mapping[str, str] = os.environ if environ is None else environ
        self._cache: tuple[str, tuple[int, int, int], Credentials] | None = None

    def path(self) -> str | None:
        explicit = self._explicit or self._environ.get(ENV_CREDENTIALS_FILE, "").strip()
        if explicit:
            return os.path.expanduser(explicit)
        for candidate in DEFAULT_CREDENTIALS_FILES:
            try:
                expanded = os.path.expanduser(candidate)
            except RuntimeError:  # no home directory
                continue
            if os.path.isfile(expanded):
                return expanded
        return None

    async def available(self) -> bool:
        return self.path() is not None

    async def get(self) -> Credentials:
        path = self.path()
        if path is None:
            raise CredentialError(self.name, "no credentials file found at " + " or ".join(DEFAULT_CREDENTIALS_FILES))
        return self._load(path)

    def _load(self, path: str) -> Credentials:
        try:
            stat = os.stat(path)
            key = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
            if self._cache is not None and self._cache[:2] == (path, key):
                return self._cache[2]
            text = read_small_file(path, MAX_SECRET_FILE_BYTES, "a credentials file").decode("utf-8")
        except FileRefusedError as refused:
            raise CredentialError(self.name, f"{path}: {refused}") from None
        except OSError as exc:
            raise CredentialError(self.name, f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
        except UnicodeDecodeError:
            raise CredentialError(self.name, f"{path} is not UTF-8 text") from None
        credentials = self._parse(path, text)
        self._cache = (path, key, credentials)
        return credentials

    def _parse(self, path: str, text: str) -> Credentials:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(text, source=path)
        except configparser.Error as exc:
            # configparser's own messages quote the offending line, which may hold the key.
            line = getattr(exc, "lineno", None)
            where = f" (line {line})" if line else ""
            raise CredentialError(self.name, f"{path} is not a valid INI file{where}") from None
        if not parser.has_section("default"):
            raise CredentialError(self.name, f"{path} has no [default] section")
        section = parser["default"]
        values = {name: _strip_quotes(section.get(name, "")) for name in ("secret_id", "secret_key", "token")}
        for name in ("secret_id", "secret_key"):
            if not values[name]:
                raise CredentialError(self.name, f"{path} [default] has no {name}")
        return _checked(self.name, values["secret_id"], values["secret_key"], values["token"])


def _one_line(text: str, limit: int = 300) -> str:
    """Text from elsewhere (an exception, a server's message) made fit for a one-line error."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _describe(exc: BaseException) -> str:
    detail = _one_line(str(exc))
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


class _Expiring:
    """Shared refresh logic of temporary credentials: renew a margin before expiry, one refresh at a time.

    The margin is `refresh_margin`, but at most `RENEW_SHARE` of the keys' lifetime, so that short-lived
    keys (minutes) are still reused for most of their life instead of being fetched at every call. If a
    renewal fails while the current keys are still valid they are kept (and the failure logged), so a
    short outage of STS or the metadata service does not interrupt polling. With `retry_base` above 0,
    the next attempt waits out a backoff (`retry_base` doubling up to `retry_cap` seconds); until then a
    caller gets the still-valid keys, or, once they have expired, the last failure again: a service that
    refuses is not asked again at every call. With 0 (the CVM role and TKE), every call may try again.
    """

    name = "temporary credentials"

    def __init__(
        self,
        *,
        refresh_margin: float,
        clock: Callable[[], float],
        retry_base: float = 0.0,
        retry_cap: float = DEFAULT_RETRY_CAP,
    ) -> None:
        self._margin = refresh_margin
        self._clock = clock
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self._current: Credentials | None = None
        self._expires_at = 0.0
        self._renew_at = 0.0
        self._failures = 0
        self._failure: CredentialError | None = None
        self._retry_at = 0.0
        self._lock = asyncio.Lock()
        self.refreshes = 0
        """How many times fresh keys were fetched (for diagnostics and tests)."""
        self.attempts = 0
        """How many times fresh keys were asked for, failures included."""

    @property
    def expires_at(self) -> float | None:
        """When the current keys expire (the `clock`'s time), None before the first ones."""
        return self._expires_at if self._current is not None else None

    @property
    def renew_at(self) -> float | None:
        """When the current keys will be renewed (the `clock`'s time), None before the first ones."""
        return self._renew_at if self._current is not None else None

    def _fresh(self) -> bool:
        return self._current is not None and self._clock() < self._renew_at

    def _valid(self) -> bool:
        return self._current is not None and self._clock() < self._expires_at

    async def _fetch(self) -> tuple[Credentials, float]:
        raise NotImplementedError

    def backoff(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failure in a row (from 1) before asking again."""
        return float(min(self._retry_cap, self._retry_base * 2.0 ** min(failures - 1, 62)))

    async def get(self) -> Credentials:
        if self._fresh():
            assert self._current is not None
            return self._current
        async with self._lock:
            if self._fresh():
                assert self._current is not None
                return self._current
            now = self._clock()
            if self._failure is not None and now < self._retry_at:
                if self._valid():
                    assert self._current is not None
                    return self._current
                raise self._failure.copy()
            self.attempts += 1
            try:
                credentials, expires_at = await self._fetch()
            except CredentialError as exc:
                self._failures += 1
                self._failure = exc
                self._retry_at = self._clock() + self.backoff(self._failures)
                if self._valid():
                    assert self._current is not None
                    log.warning("renewing credentials failed, keeping the current ones until they expire: %s", exc)
                    return self._current
                raise
            self.refreshes += 1
            self._failures, self._failure = 0, None
            lifetime = max(0.0, expires_at - self._clock())
            self._current, self._expires_at = credentials, expires_at
            self._renew_at = expires_at - min(self._margin, lifetime * RENEW_SHARE)
            return credentials


def _expiry(provider: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise CredentialError(provider, "answer has no valid ExpiredTime")
    try:
        return float(value)
    except ValueError:
        raise CredentialError(provider, "answer has no valid ExpiredTime") from None


def _temporary(provider: str, data: Mapping[str, Any], source: str) -> Credentials:
    values = {key: data.get(key) for key in ("TmpSecretId", "TmpSecretKey", "Token")}
    for key, value in values.items():
        if not isinstance(value, str) or not value:
            raise CredentialError(provider, f"{source} answer lacks {key}")
    return _checked(provider, str(values["TmpSecretId"]), str(values["TmpSecretKey"]), str(values["Token"]))
