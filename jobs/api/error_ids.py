"""What a GraphQL client sees of an error: refusals as written, and for
anything unexpected only an id.

A refusal (a ``GraphQLError`` raised on purpose, a :class:`JobError`, a
validation or syntax error) is meant for the client and goes out unchanged.
Any other exception raised while resolving (a store that is down, a bug) can
name internal hosts, paths or data: it is logged with its traceback under a
fresh id, and the client gets ``internal error (id …)`` with that id in
``extensions.errorId``, to quote when reporting it.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from graphene_django.views import HttpError
from graphql import GraphQLError

from jobs.errors import JobError

logger = logging.getLogger("jobs.api.errors")

INTERNAL_ERROR = "INTERNAL_ERROR"
"""``extensions.code`` of an error whose text stays in the server's log."""

CLIENT_FACING = (GraphQLError, JobError, HttpError)
"""Exceptions whose message is written for the client (HttpError: the
view's own refusals, such as a body over the size limit)."""


def unavailable(what: str, exc: BaseException) -> GraphQLError:
    """A refusal for a store that did not answer: the client learns what and
    the id; the log has the exception (which names the store's address)."""
    error_id = uuid.uuid4().hex[:12]
    logger.error("%s unavailable (error %s): %s", what, error_id, exc)
    return GraphQLError(
        f"{what} unavailable (id {error_id})",
        extensions={"code": "UNAVAILABLE", "errorId": error_id},
    )


def is_internal(error: GraphQLError) -> bool:
    original = error.original_error
    return original is not None and not isinstance(original, CLIENT_FACING)


def client_error(error: Exception) -> dict[str, Any]:
    """The formatted error to send; logs the unexpected ones with their id."""
    if isinstance(error, HttpError):
        return {"message": str(error)}
    if not isinstance(error, GraphQLError):
        error = GraphQLError(str(error), original_error=error)
    if not is_internal(error):
        return dict(error.formatted)
    error_id = uuid.uuid4().hex[:12]
    original = error.original_error
    assert original is not None
    logger.error(
        "GraphQL error %s at %s: %s",
        error_id,
        ".".join(str(p) for p in error.path or ()) or "(operation)",
        original,
        exc_info=(type(original), original, original.__traceback__),
    )
    return dict(
        GraphQLError(
            f"internal error (id {error_id})",
            error.nodes,
            error.source,
            error.positions,
            error.path,
            extensions={"code": INTERNAL_ERROR, "errorId": error_id},
        ).formatted
    )
