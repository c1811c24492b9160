"""The error types of a Tencent Cloud API call, and which of them are worth retrying.

Every error carries the API's code, message, RequestId, region and action so that a log line or a
metric label can say exactly what failed; none carries request headers or credentials, so printing an
error can never print a secret.
"""

from __future__ import annotations

NETWORK_ERROR = "NetworkError"
TIMEOUT = "Timeout"
HTTP_ERROR = "HTTPError"
MALFORMED_RESPONSE = "MalformedResponse"
CREDENTIAL_ERROR = "CredentialError"

_RETRYABLE_PREFIXES = ("RequestLimitExceeded",)
_RETRYABLE_CLIENT_STATUSES = frozenset({408, 425, 429})
_RETRYABLE_CODES = frozenset(
    {
        "InternalError",
        "ServiceUnavailable",
        "FailedOperation.ApiGatewayQueryFailed",
        "FailedOperation.StsQueryFailed",
        "FailedOperation.BillingQueryFailed",
        "FailedOperation.ClusterQueryFailed",
        "FailedOperation.QueryDatabaseFail",
        "FailedOperation.QueryTagFail",
        NETWORK_ERROR,
        TIMEOUT,
        HTTP_ERROR,
        MALFORMED_RESPONSE,
    }
)


def is_retryable(code: str) -> bool:
    """Transient server-side conditions are retried; credential, permission and request errors never are."""
    if code in _RETRYABLE_CODES or code.startswith(_RETRYABLE_PREFIXES):
        return True
    if code.startswith("InternalError."):
        return True
    return code.startswith("FailedOperation.") and code.endswith("QueryFailed")


def is_permission_error(code: str) -> bool:
    """The caller's keys are valid but may not call this action (`UnauthorizedOperation`, also under `AuthFailure.`)."""
    return code.removeprefix("AuthFailure.").split(".", 1)[0] == "UnauthorizedOperation"


class TencentCloudError(Exception):
    """Base of every failure of a call: API error envelope, transport trouble or credentials."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        request_id: str = "",
        region: str = "",
        action: str = "",
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id
        self.region = region
        self.action = action
        self.status = status

    @property
    def retryable(self) -> bool:
        """`is_retryable(code)`, except that an HTTP 4xx status other than 408, 425 and 429 is final.

        A 404 or 403 comes from a wrong endpoint or a proxy refusing us, and asking again cannot help.
        """
        if self.code == HTTP_ERROR and self.status is not None and 400 <= self.status < 500:
            return self.status in _RETRYABLE_CLIENT_STATUSES
        return is_retryable(self.code)

    def __str__(self) -> str:
        where = " ".join(
            f"{key}={value}"
            for key, value in (("region", self.region), ("action", self.action), ("request_id", self.request_id))
            if value
        )
        return f"{self.code}: {self.message}" + (f" ({where})" if where else "")


class APIError(TencentCloudError):
    """The API answered with its error envelope `{"Response": {"Error": {...}, "RequestId": ...}}`."""


class TransportError(TencentCloudError):
    """No usable answer: connection failure, timeout, an HTTP status other than 200, or a body not the API's JSON."""


class CredentialError(TencentCloudError):
    """No credentials could be resolved; the message names the provider and the reason, never a value.

    `code` is `CredentialError`, or the code of the service that refused to hand out keys (STS
    `AssumeRole`'s, say), so that what fails because of it can be reported with that code. Never retried
    by the client: a provider that calls a service retries on its own schedule, and asking it again at
    once would only repeat its last answer.
    """

    def __init__(self, provider: str, reason: str, *, code: str = CREDENTIAL_ERROR) -> None:
        super().__init__(code, f"{provider}: {reason}")
        self.provider = provider
        self.reason = reason

    @property
    def retryable(self) -> bool:
        return False

    def copy(self) -> CredentialError:
        """The same error as a new object, for raising again to another caller (who sets its region)."""
        return CredentialError(self.provider, self.reason, code=self.code)
