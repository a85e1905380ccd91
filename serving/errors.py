"""Transport-free request errors; the gRPC layer maps each to a status code."""


class RequestError(Exception):
    """A request the server refuses; the message goes back to the caller."""


class InvalidRequest(RequestError):
    """Malformed input: maps to INVALID_ARGUMENT."""


class NotFound(RequestError):
    """An unknown feature service or model: maps to NOT_FOUND."""


class Unavailable(RequestError):
    """A backing store cannot be reached: maps to UNAVAILABLE."""


class Unauthenticated(RequestError):
    """No bearer token, or one no team holds: maps to UNAUTHENTICATED."""


class PermissionDenied(RequestError):
    """The caller's team may not call this feature service or model: maps to PERMISSION_DENIED."""


class Overloaded(RequestError):
    """More requests in flight than the replica takes: maps to RESOURCE_EXHAUSTED."""
