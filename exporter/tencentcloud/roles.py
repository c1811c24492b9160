"""Temporary keys of a role: the CVM instance's, from the metadata service, and TKE workload identity's,
the pod's OIDC token exchanged at STS (`AssumeRoleWithWebIdentity`). Both renew as `credentials._Expiring`
does, a margin before the keys expire.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping

import httpx

from exporter.tencentcloud.credentials import (
    DEFAULT_METADATA_URL,
    DEFAULT_REFRESH_MARGIN,
    DEFAULT_STS_ENDPOINT,
    ENV_TKE_PROVIDER_ID,
    ENV_TKE_REGION,
    ENV_TKE_ROLE_ARN,
    ENV_TKE_TOKEN_FILE,
    METADATA_ROLE_PATH,
    STS_ACTION,
    STS_SERVICE,
    STS_VERSION,
    Credentials,
    _describe,
    _Expiring,
    _expiry,
    _FileReader,
    _one_line,
    _temporary,
)
from exporter.tencentcloud.endpoint import Endpoint
from exporter.tencentcloud.errors import CredentialError
from exporter.tencentcloud.request import encode_body, request_headers

log = logging.getLogger("exporter.tencentcloud.credentials")
"""The credential providers' one logger, whichever module a provider lives in."""


class CvmRoleProvider(_Expiring):
    """Temporary keys of the CVM instance's role, from the instance metadata service."""

    name = "cvm-role"

    def __init__(
        self,
        base_url: str = DEFAULT_METADATA_URL,
        *,
        http: httpx.AsyncClient | None = None,
        probe_timeout: float = 1.0,
        timeout: float = 5.0,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(refresh_margin=refresh_margin, clock=clock)
        self._roles_url = base_url.rstrip("/") + METADATA_ROLE_PATH
        self._http = http
        self._probe_timeout = probe_timeout
        self._timeout = timeout

    async def _get_text(self, url: str, seconds: float) -> str:
        # The metadata service is link-local: never route it through a proxy from the environment.
        if self._http is not None:
            response = await self._http.get(url, timeout=seconds)
        else:
            async with httpx.AsyncClient(trust_env=False) as http:
                response = await http.get(url, timeout=seconds)
        if response.status_code != 200:
            raise CredentialError(self.name, f"metadata service answered HTTP {response.status_code} for {url}")
        return response.text

    async def _role(self, seconds: float) -> str:
        try:
            text = await self._get_text(self._roles_url, seconds)
        except httpx.HTTPError as exc:
            reason = f"metadata service {self._roles_url} unreachable: {_describe(exc)}"
            raise CredentialError(self.name, reason) from None
        role = next((line.strip() for line in text.splitlines() if line.strip()), "")
        if not role:
            raise CredentialError(self.name, "no role is attached to this instance")
        return role

    async def available(self) -> bool:
        try:
            await self._role(self._probe_timeout)
        except CredentialError as exc:
            log.debug("CVM role not available: %s", exc)
            return False
        return True

    async def _fetch(self) -> tuple[Credentials, float]:
        role = await self._role(self._timeout)
        url = self._roles_url + role
        try:
            text = await self._get_text(url, self._timeout)
        except httpx.HTTPError as exc:
            raise CredentialError(self.name, f"metadata service {url} unreachable: {_describe(exc)}") from None
        try:
            data = json.loads(text)
        except ValueError:
            raise CredentialError(self.name, f"metadata answer for role {role} is not JSON") from None
        if not isinstance(data, dict):
            raise CredentialError(self.name, f"metadata answer for role {role} is not a JSON object")
        if data.get("Code") != "Success":
            code = data.get("Code")
            raise CredentialError(self.name, f"metadata service refused role {role}: Code={code!s:.64}")
        return _temporary(self.name, data, "metadata"), _expiry(self.name, data.get("ExpiredTime"))


class TkeOidcProvider(_Expiring):
    """TKE workload identity: the pod's OIDC token exchanged at STS for temporary keys of a role.

    Configured when `TKE_ROLE_ARN` or `TKE_WEB_IDENTITY_TOKEN_FILE` is set; the token file is read
    again at every renewal because the kubelet rotates it.
    """

    name = "tke-oidc"

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        sts_endpoint: str = DEFAULT_STS_ENDPOINT,
        allow_insecure: bool = False,
        http: httpx.AsyncClient | None = None,
        duration_seconds: int = 7200,
        timeout: float = 10.0,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        clock: Callable[[], float] = time.time,
        session_name: str = "tione-exporter",
    ) -> None:
        super().__init__(refresh_margin=refresh_margin, clock=clock)
        self._environ: Mapping[str, str] = os.environ if environ is None else environ
        self._endpoint = Endpoint.parse(sts_endpoint, allow_insecure=allow_insecure)
        self._http = http
        self._duration = duration_seconds
        self._timeout = timeout
        self._session_name = session_name
        self._reader = _FileReader()

    async def available(self) -> bool:
        return any(self._environ.get(name, "").strip() for name in (ENV_TKE_ROLE_ARN, ENV_TKE_TOKEN_FILE))

    def _settings(self) -> dict[str, str]:
        names = (ENV_TKE_REGION, ENV_TKE_PROVIDER_ID, ENV_TKE_TOKEN_FILE, ENV_TKE_ROLE_ARN)
        values = {name: self._environ.get(name, "").strip() for name in names}
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise CredentialError(self.name, "missing environment variable " + ", ".join(missing))
        return values

    async def _post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        if self._http is not None:
            return await self._http.post(self._endpoint.url, content=body, headers=headers, timeout=self._timeout)
        async with httpx.AsyncClient() as http:
            return await http.post(self._endpoint.url, content=body, headers=headers, timeout=self._timeout)

    async def _fetch(self) -> tuple[Credentials, float]:
        settings = self._settings()
        web_token = self._reader.read(self.name, ENV_TKE_TOKEN_FILE, settings[ENV_TKE_TOKEN_FILE])
        if not web_token:
            raise CredentialError(self.name, f"{ENV_TKE_TOKEN_FILE} {settings[ENV_TKE_TOKEN_FILE]} is empty")
        body = encode_body(
            {
                "ProviderId": settings[ENV_TKE_PROVIDER_ID],
                "WebIdentityToken": web_token,
                "RoleArn": settings[ENV_TKE_ROLE_ARN],
                "RoleSessionName": f"{self._session_name}-{time.time_ns() // 1000}",
                "DurationSeconds": self._duration,
            }
        )
        headers = request_headers(
            service=STS_SERVICE,
            action=STS_ACTION,
            version=STS_VERSION,
            region=settings[ENV_TKE_REGION],
            host=self._endpoint.host,
            timestamp=int(time.time()),
            body=body,
            secret_id=None,
            secret_key=None,
        )
        where = f"STS {self._endpoint.url}"
        try:
            response = await self._post(body, headers)
        except httpx.HTTPError as exc:
            raise CredentialError(self.name, f"{where} unreachable: {_describe(exc)}") from None
        if response.status_code != 200:
            raise CredentialError(self.name, f"{where} answered HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise CredentialError(self.name, f"{where} answer is not JSON") from None
        answer = data.get("Response") if isinstance(data, dict) else None
        if not isinstance(answer, dict):
            raise CredentialError(self.name, f"{where} answer has no Response object")
        error = answer.get("Error")
        if isinstance(error, dict):
            code = _one_line(str(error.get("Code", "")).replace(web_token, "***"), 100)
            message = _one_line(str(error.get("Message", "")).replace(web_token, "***"))
            request_id = answer.get("RequestId", "")
            raise CredentialError(self.name, f"{STS_ACTION} failed: {code}: {message} (request_id={request_id})")
        credentials = answer.get("Credentials")
        if not isinstance(credentials, dict):
            raise CredentialError(self.name, f"{where} answer lacks Credentials")
        return _temporary(self.name, credentials, "STS"), _expiry(self.name, answer.get("ExpiredTime"))
