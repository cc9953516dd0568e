"""One error tree. Every error carries a machine-readable code, an HTTP status and a
human message; the API turns it into ``{"error": code, "detail": message}``.

Nothing here imports HTTP code: services raise these, the boundary encodes them.
"""

from __future__ import annotations

from typing import Any, ClassVar


class MailplaneError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(
        self, detail: str, *, code: str | None = None, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code  # type: ignore[misc]
        self.extra = extra or {}


class InvalidInput(MailplaneError):
    status = 422
    code = "invalid_input"


class NotFound(MailplaneError):
    status = 404
    code = "not_found"


class Conflict(MailplaneError):
    status = 409
    code = "conflict"


class Unauthenticated(MailplaneError):
    status = 401
    code = "unauthenticated"


class Forbidden(MailplaneError):
    status = 403
    code = "forbidden"


class Throttled(MailplaneError):
    status = 429
    code = "too_many_requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, extra={"retry_after": retry_after})
        self.retry_after = retry_after


class Unavailable(MailplaneError):
    """A dependency (DNS, a mail server) is temporarily unreachable: retry later."""

    status = 503
    code = "unavailable"


class LimitReached(Conflict):
    """A tenant limit set by the platform operator; ``extra`` names the limit and its value."""

    code = "limit_reached"


class Overloaded(Unavailable):
    """Too much at once (the write queue, the database's locks or connections): retry later.

    Answered with ``Retry-After``; the request changed nothing.
    """

    code = "overloaded"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, extra={"retry_after": retry_after})
        self.retry_after = retry_after


class RateLimited(Throttled):
    """A send rate limit (per domain or per key); ``headers`` are the RateLimit-* fields
    the answer carries besides Retry-After."""

    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after: int, headers: dict[str, str]) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.headers = headers
