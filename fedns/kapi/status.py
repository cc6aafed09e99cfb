"""API errors as kube-apiserver reports them: ``Status`` objects with reason and code.

One exception type, :class:`ApiError`, carries the HTTP code, the ``reason`` and the
``details`` of a ``meta/v1 Status``; the constructors below give the exact messages
kube-apiserver uses (apimachinery ``pkg/api/errors``), so clients such as kubectl
print the same lines.  Nothing here knows HTTP or the Store.
"""

from __future__ import annotations

from typing import Any

from fedns import errors


class ApiError(errors.FednsError):
    """The API request failed."""

    def __init__(self, code: int, reason: str, message: str,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason,
        }
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def qualified(resource: str, group: str) -> str:
    """``services`` / ``deployments.apps``: how messages name a resource."""
    return f"{resource}.{group}" if group else resource


def _details(name: str, group: str, kind: str) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    details["kind"] = kind
    return details


def not_found(resource: str, group: str, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{qualified(resource, group)} "{name}" not found',
                    _details(name, group, resource))


def already_exists(resource: str, group: str, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists",
                    f'{qualified(resource, group)} "{name}" already exists',
                    _details(name, group, resource))


def conflict(resource: str, group: str, name: str,
             why: str = "the object has been modified; please apply your changes to the "
                        "latest version and try again") -> ApiError:
    return ApiError(409, "Conflict",
                    f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": {why}',
                    _details(name, group, resource))


def invalid(kind: str, group: str, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422 Invalid; ``causes`` are (field, message) pairs, message like
    ``Invalid value: "x": must be ...`` or ``Required value``."""
    text = "; ".join(f"{field}: {message}" for field, message in causes)
    if len(causes) > 1:
        text = "[" + ", ".join(f"{field}: {message}" for field, message in causes) + "]"
    details = _details(name, group, kind)
    details["causes"] = [
        {"reason": _cause_reason(message), "message": message, "field": field}
        for field, message in causes
    ]
    return ApiError(422, "Invalid", f'{qualified(kind, group)} "{name}" is invalid: {text}',
                    details)


def _cause_reason(message: str) -> str:
    for prefix, reason in (("Required value", "FieldValueRequired"),
                           ("Duplicate value", "FieldValueDuplicate"),
                           ("Unsupported value", "FieldValueNotSupported"),
                           ("Forbidden", "FieldValueForbidden")):
        if message.startswith(prefix):
            return reason
    return "FieldValueInvalid"


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def forbidden(resource: str, group: str, name: str, why: str) -> ApiError:
    prefix = f'{qualified(resource, group)} "{name}" is forbidden' if name else \
        f"{qualified(resource, group)} is forbidden"
    return ApiError(403, "Forbidden", f"{prefix}: {why}", _details(name, group, resource))


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def too_old(requested: int, oldest: int) -> ApiError:
    return expired(f"too old resource version: {requested} ({oldest})")


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def path_not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def method_not_allowed(verb: str) -> ApiError:
    return ApiError(405, "MethodNotAllowed",
                    f"the server does not allow this method on the requested resource ({verb})",
                    {})


def unsupported_media_type(content_type: str, accepted: list[str],
                           detail: str = "") -> ApiError:
    message = (f"the body of the request was in an unknown format - accepted media types "
               f"include: {', '.join(accepted)}")
    return ApiError(415, "UnsupportedMediaType", f"{message} ({detail})" if detail else message)


def internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", f"Internal error occurred: {message}")


def success(name: str, group: str, resource: str, uid: str) -> dict[str, Any]:
    """The ``Status`` a delete returns when the object is gone."""
    details = _details(name, group, resource)
    details["uid"] = uid
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": details}
