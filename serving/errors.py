"""Transport-free request errors; the gRPC layer maps each to a status code."""


class RequestError(Exception):
    """A request the server refuses; the message goes back to the caller."""


class InvalidRequest(RequestError):
    """Malformed input: maps to INVALID_ARGUMENT."""


class NotFound(RequestError):
    """An unknown feature service or model: maps to NOT_FOUND."""


class Unavailable(RequestError):
    """A backing store cannot be reached: maps to UNAVAILABLE."""
