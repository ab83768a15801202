"""Typed errors that become Webull-style ``{"error_code", "message"}`` bodies."""

from __future__ import annotations


class SimError(Exception):
    """An error the API answers with ``status`` and a Webull-style body."""

    status = 400
    error_code = "INVALID_PARAMETER"

    def __init__(self, message: str, *, error_code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if error_code is not None:
            self.error_code = error_code
        if status is not None:
            self.status = status

    def body(self) -> dict[str, str]:
        return {"error_code": self.error_code, "message": self.message}


class BadRequest(SimError):
    status = 400
    error_code = "INVALID_PARAMETER"


class AuthError(SimError):
    status = 401
    error_code = "UNAUTHORIZED"


class NotFound(SimError):
    status = 404
    error_code = "NOT_FOUND"


class OrderRejected(SimError):
    """A well-formed order that the account's rules refuse (it is kept as FAILED)."""

    status = 400
    error_code = "ORDER_REJECTED"


class OrderStateError(SimError):
    """Cancel or replace of an order that can no longer be changed."""

    status = 400
    error_code = "ORDER_NOT_MODIFIABLE"


class InjectedFault(SimError):
    """An error the control interface asked for (5xx/429 bursts)."""

    status = 503
    error_code = "SERVICE_UNAVAILABLE"
