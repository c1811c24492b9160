"""`--web.config.file`: TLS and basic authentication, in the exporter-toolkit format Prometheus users know.

```yaml
tls_server_config:
  cert_file: /etc/tione-exporter/tls.crt
  key_file: /etc/tione-exporter/tls.key
  client_auth_type: RequireAndVerifyClientCert   # optional; needs client_ca_file
  client_ca_file: /etc/tione-exporter/ca.crt
  min_version: TLS12                              # optional: TLS12 (default) or TLS13
basic_auth_users:
  prometheus: $2b$12$...                          # bcrypt hash of the password
```

The file is read once at start and checked completely (files readable, key matching certificate, hashes
well-formed) so that a mistake stops the exporter with a clear line instead of failing at the first
scrape. Keys this implementation does not support are errors, not silently ignored settings: a
`cipher_suites` that quietly did nothing would be a security surprise.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import secrets
import ssl
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import yaml

from exporter.console import ConfigError
from exporter.files import FileRefusedError, read_small_file

CLIENT_AUTH_TYPES: dict[str, ssl.VerifyMode] = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
"""The exporter-toolkit's `RequestClientCert` and `RequireAnyClientCert` accept unverified client
certificates, which Python's TLS cannot do; they are refused with a message saying so."""

TLS_VERSIONS: dict[str, ssl.TLSVersion] = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
_TLS_KEYS = frozenset({"cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version", "max_version"})
_TOP_KEYS = frozenset({"tls_server_config", "basic_auth_users"})
_KNOWN_UNSUPPORTED = {
    "http_server_config": "HTTP/2 and custom headers are not supported",
    "cipher_suites": "the cipher suites are Python's defaults for the TLS version",
    "curve_preferences": "the curves are Python's defaults",
    "prefer_server_cipher_suites": "the cipher suites are Python's defaults",
    "client_allowed_sans": "client certificates are checked against client_ca_file only",
    "cert": "inline certificates are not supported; use cert_file",
    "key": "inline keys are not supported; use key_file",
    "client_ca": "inline CA certificates are not supported; use client_ca_file",
}
REALM = "tione-exporter"
MAX_WEB_CONFIG_BYTES = 256 * 1024
"""Far more than a file of file paths and a few hundred bcrypt hashes needs; a FIFO or device is refused too."""


@dataclass(frozen=True)
class WebConfig:
    """What the file asks for: a server TLS context (None: plain HTTP) and bcrypt hashes by user name."""

    tls: ssl.SSLContext | None = None
    users: Mapping[str, bytes] = field(default_factory=dict)

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"


def load_web_config(path: Path) -> WebConfig:
    """Read and check the file; raise `ConfigError` naming every problem (never a secret)."""
    where = f"--web.config.file {path}"
    try:
        document = yaml.safe_load(read_small_file(path, MAX_WEB_CONFIG_BYTES, "a web configuration file").decode())
    except FileRefusedError as refused:
        raise ConfigError([f"{where}: {refused}"]) from None
    except OSError as error:
        raise ConfigError([f"{where}: cannot read the file: {error.strerror or error}"]) from None
    except (UnicodeDecodeError, yaml.YAMLError):
        raise ConfigError([f"{where}: not a valid YAML file"]) from None
    if document is None:
        return WebConfig()
    if not isinstance(document, dict):
        raise ConfigError([f"{where}: the top level must be a mapping"])
    problems = [f"{where}: {problem}" for problem in _unknown(document, _TOP_KEYS, "")]
    tls: ssl.SSLContext | None = None
    users: dict[str, bytes] = {}
    if document.get("tls_server_config") is not None:
        tls, tls_problems = _tls(document["tls_server_config"], path.parent)
        problems += [f"{where}: {problem}" for problem in tls_problems]
    if document.get("basic_auth_users") is not None:
        users, user_problems = _users(document["basic_auth_users"])
        problems += [f"{where}: {problem}" for problem in user_problems]
    if problems:
        raise ConfigError(problems)
    return WebConfig(tls=tls, users=users)


def _unknown(section: Mapping[str, Any], known: frozenset[str], prefix: str) -> list[str]:
    problems = []
    for key in section:
        if key in known:
            continue
        reason = _KNOWN_UNSUPPORTED.get(str(key))
        problems.append(f"{prefix}{key}: " + (f"not supported ({reason})" if reason else "unknown key"))
    return problems


def _file(section: Mapping[str, Any], key: str, base: Path, problems: list[str], *, required: bool) -> str | None:
    """The path of an existing file named by `key` (relative paths are relative to the web config file)."""
    value = section.get(key)
    if value is None or value == "":
        if required:
            problems.append(f"tls_server_config.{key}: required")
        return None
    if not isinstance(value, str):
        problems.append(f"tls_server_config.{key}: expected a file path")
        return None
    path = Path(value) if Path(value).is_absolute() else base / value
    if not path.is_file():
        problems.append(f"tls_server_config.{key}: no such file {path}")
        return None
    return str(path)


def _tls(section: object, base: Path) -> tuple[ssl.SSLContext | None, list[str]]:
    if not isinstance(section, dict):
        return None, ["tls_server_config: expected a mapping"]
    problems = _unknown(section, _TLS_KEYS, "tls_server_config.")
    cert = _file(section, "cert_file", base, problems, required=True)
    key = _file(section, "key_file", base, problems, required=True)
    auth_type = str(section.get("client_auth_type") or "NoClientCert")
    verify = CLIENT_AUTH_TYPES.get(auth_type)
    if verify is None:
        unverified = auth_type in ("RequestClientCert", "RequireAnyClientCert")
        problems.append(
            f'tls_server_config.client_auth_type: "{auth_type}" '
            + ("is not supported (client certificates are always verified)" if unverified else "is unknown")
            + f"; use one of {', '.join(CLIENT_AUTH_TYPES)}"
        )
    ca = _file(section, "client_ca_file", base, problems, required=verify not in (None, ssl.CERT_NONE))
    versions = {}
    for name in ("min_version", "max_version"):
        value = section.get(name)
        if value is None:
            continue
        if value not in TLS_VERSIONS:
            problems.append(f'tls_server_config.{name}: "{value}" must be one of {", ".join(TLS_VERSIONS)}')
        else:
            versions[name] = TLS_VERSIONS[value]
    if problems or cert is None or key is None:
        return None, problems

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = versions.get("min_version", ssl.TLSVersion.TLSv1_2)
    if "max_version" in versions:
        context.maximum_version = versions["max_version"]
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as error:
        reason = getattr(error, "reason", None) or type(error).__name__
        return None, [f"tls_server_config: cannot use cert_file and key_file together: {reason}"]
    if verify is not None and verify != ssl.CERT_NONE and ca is not None:
        try:
            context.load_verify_locations(cafile=ca)
        except (ssl.SSLError, OSError) as error:
            reason = getattr(error, "reason", None) or type(error).__name__
            return None, [f"tls_server_config.client_ca_file: cannot load it: {reason}"]
        context.verify_mode = verify
    return context, []


def _users(section: object) -> tuple[dict[str, bytes], list[str]]:
    if not isinstance(section, dict):
        return {}, ["basic_auth_users: expected a mapping of user names to bcrypt hashes"]
    users: dict[str, bytes] = {}
    problems = []
    for name, hashed in section.items():
        if not isinstance(name, str) or not name or ":" in name:
            problems.append(f"basic_auth_users: invalid user name {name!r}")
            continue
        if not isinstance(hashed, str) or not _is_bcrypt(hashed):
            # the value is not echoed: someone may have put a plain password there
            problems.append(f"basic_auth_users.{name}: not a bcrypt hash (expected $2a$, $2b$ or $2y$...)")
            continue
        users[name] = hashed.encode()
    return users, problems


def _is_bcrypt(value: str) -> bool:
    if not value.startswith(("$2a$", "$2b$", "$2y$")) or len(value) != 60:
        return False
    try:
        bcrypt.checkpw(b"", value.encode())
    except ValueError:
        return False
    return True


MAX_PASSWORD_BYTES = 72
"""bcrypt's limit: a longer password cannot match any hash (the bcrypt package raises rather than truncate),
so it is refused at once, like any wrong password, and costs no check."""
CHECK_THREADS = 1
"""Threads that run bcrypt checks: their own, so that a flood of wrong passwords never holds up the worker
threads that compress scrapes."""
CHECKS_WAITING = 4
"""Client addresses that may wait for a check at once; a request beyond them is refused at once."""
FAILED_CHECK_PAUSE = 1.0
"""After a failed check the checker rests this many times as long as the check took: wrong passwords use
at most half of one CPU, whatever the hashes' cost."""


class BasicAuth:
    """Checks `Authorization: Basic` against bcrypt hashes, telling nothing and costing a bounded amount.

    bcrypt is slow on purpose (tens to hundreds of milliseconds at cost 10-12), and Prometheus sends the
    same credentials every scrape, so a successful check is remembered as an HMAC of user and password under
    a key made at start (never the password itself): later scrapes cost one HMAC. The rest is what an
    attacker could use:

    - an unknown user is checked against a dummy hash of the same cost as the configured ones (the highest),
      so the time of a refusal does not tell whether the user exists;
    - a password longer than bcrypt's 72 bytes is refused without a check (and without an error);
    - checks run one at a time on a thread of their own (never the pool that compresses scrapes), each
      failed one followed by a rest as long as itself, and at most one request per client address waits
      for one, at most `CHECKS_WAITING` addresses in all: a flood of wrong passwords gets quick refusals
      and costs at most half a CPU, and Prometheus's remembered credentials are never queued behind it.
    """

    def __init__(self, users: Mapping[str, bytes]) -> None:
        self._users = dict(users)
        self._key = secrets.token_bytes(32)
        self._accepted: set[bytes] = set()
        cost = max((_cost(hashed) for hashed in self._users.values()), default=4)
        self._dummy = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds=cost)) if self._users else b""
        self._executor: ThreadPoolExecutor | None = None
        self._checker = asyncio.Lock()
        self._waiting: set[str] = set()

    @property
    def enabled(self) -> bool:
        return bool(self._users)

    async def allows(self, header: str | None, client: str = "") -> bool:
        """Whether `header` carries a configured user's password; `client` is the remote address."""
        credentials = _parse_basic(header)
        if credentials is None:
            return False
        user, password = credentials
        secret = password.encode()
        if len(secret) > MAX_PASSWORD_BYTES:
            return False
        digest = hmac.new(self._key, user.encode() + b"\0" + secret, hashlib.sha256).digest()
        if digest in self._accepted:
            return True
        if client in self._waiting or len(self._waiting) >= CHECKS_WAITING:
            return False
        self._waiting.add(client)
        try:
            hashed = self._users.get(user)
            ok = await self._check(secret, hashed or self._dummy)
        finally:
            self._waiting.discard(client)
        if ok and hashed is not None:
            self._accepted.add(digest)
            return True
        return False

    async def _check(self, password: bytes, hashed: bytes) -> bool:
        """One bcrypt check on the checker's thread; the checker is released when the thread is done (not when
        the request gives up), after a rest if the check failed."""
        loop = asyncio.get_running_loop()
        await self._checker.acquire()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=CHECK_THREADS, thread_name_prefix="auth")
        started = loop.time()
        future = loop.run_in_executor(self._executor, _checkpw, password, hashed)

        def done(checked: asyncio.Future[bool]) -> None:
            failed = checked.cancelled() or checked.exception() is not None or not checked.result()
            rest = (loop.time() - started) * FAILED_CHECK_PAUSE if failed else 0.0
            loop.call_later(rest, self._checker.release)

        future.add_done_callback(done)
        return await asyncio.shield(future)


def _checkpw(password: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:  # a password bcrypt will not take: refused like a wrong one
        return False


def _cost(hashed: bytes) -> int:
    """The cost factor of a well-formed bcrypt hash (`$2b$12$...`)."""
    return int(hashed[4:6])


def _parse_basic(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None
