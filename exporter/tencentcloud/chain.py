"""Where the API keys come from, in the order users of Tencent Cloud tools already expect.

1. the environment: `TENCENTCLOUD_SECRET_ID`, `TENCENTCLOUD_SECRET_KEY`, `TENCENTCLOUD_SECURITY_TOKEN`;
2. the same as files, `TENCENTCLOUD_SECRET_ID_FILE` etc. (Kubernetes secrets mounted as files), re-read
   whenever a file changes so that a rotated secret is picked up without a restart;
3. the credentials file (INI, `[default]`): `TENCENTCLOUD_CREDENTIALS_FILE`, `~/.tencentcloud/credentials`
   or `/etc/tencentcloud/credentials`;
4. TKE workload identity: the pod's OIDC token exchanged at STS (`AssumeRoleWithWebIdentity`);
5. the CVM instance role, from the metadata service (probed last, with a short timeout, because off a
   CVM it is an address that does not answer).

TKE is checked before the metadata service: on a TKE node the node's own CVM role would answer too, and
the pod's identity is the one that was meant. The chain settles on the first configured provider and
keeps it, so a misconfigured source fails loudly instead of silently falling through to another one.

Errors are `CredentialError(provider, reason)`: one line naming the source and what is wrong with it
(a variable name, a path, a field), never a value read from it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

import httpx

from exporter.tencentcloud.credentials import (
    DEFAULT_METADATA_URL,
    DEFAULT_REFRESH_MARGIN,
    DEFAULT_STS_ENDPOINT,
    Credentials,
    DiscoverableProvider,
    EnvProvider,
    ProfileFileProvider,
)
from exporter.tencentcloud.errors import CredentialError
from exporter.tencentcloud.roles import CvmRoleProvider, TkeOidcProvider

log = logging.getLogger("exporter.tencentcloud.credentials")


class CredentialChain:
    """Tries providers in order, settles on the first one that is configured, and then only asks it."""

    def __init__(self, providers: Sequence[DiscoverableProvider]) -> None:
        self._providers = tuple(providers)
        self._chosen: DiscoverableProvider | None = None
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return self._chosen.name if self._chosen is not None else "default chain"

    @property
    def provider(self) -> DiscoverableProvider | None:
        """The provider settled on, once the first `get()` found one."""
        return self._chosen

    async def _choose(self) -> DiscoverableProvider:
        async with self._lock:
            if self._chosen is not None:
                return self._chosen
            for provider in self._providers:
                if await provider.available():
                    log.info("using credentials from the %s", provider.name)
                    self._chosen = provider
                    return provider
        tried = ", ".join(provider.name for provider in self._providers)
        raise CredentialError("default chain", f"no credentials found (tried: {tried})")

    async def get(self) -> Credentials:
        provider = self._chosen or await self._choose()
        return await provider.get()


def default_chain(
    *,
    environ: Mapping[str, str] | None = None,
    credentials_file: str | None = None,
    metadata_url: str = DEFAULT_METADATA_URL,
    metadata_probe_timeout: float = 1.0,
    sts_endpoint: str = DEFAULT_STS_ENDPOINT,
    allow_insecure_sts: bool = False,
    http: httpx.AsyncClient | None = None,
    refresh_margin: float = DEFAULT_REFRESH_MARGIN,
) -> CredentialChain:
    """The usual order: environment, `*_FILE`, credentials file, TKE workload identity, CVM role."""
    return CredentialChain(
        [
            EnvProvider(environ),
            EnvProvider(environ, files=True),
            ProfileFileProvider(credentials_file, environ),
            TkeOidcProvider(
                environ,
                sts_endpoint=sts_endpoint,
                allow_insecure=allow_insecure_sts,
                http=http,
                refresh_margin=refresh_margin,
            ),
            CvmRoleProvider(
                metadata_url, http=http, probe_timeout=metadata_probe_timeout, refresh_margin=refresh_margin
            ),
        ]
    )
