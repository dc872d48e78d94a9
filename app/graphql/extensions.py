"""Transport errors: every top-level error carries `extensions.code`; unexpected ones are
logged with their traceback, and masked in production (no internals leave the server)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import SchemaExtension

log = logging.getLogger("app.graphql")

_TOO_COMPLEX_MARKERS = (
    "exceeds maximum operation depth",
    "aliases found. Allowed",
    "Document contains more than",
)
MASKED_MESSAGE = "Something went wrong on our side. It has been logged."


class RequestLifecycle(SchemaExtension):
    """Closes the request's shared read session when the operation ends."""

    async def on_operation(self) -> AsyncIterator[None]:  # type: ignore[override, misc]
        try:
            yield
        finally:
            context = self.execution_context.context
            close = getattr(context, "close", None)
            if close is not None:
                await close()


def is_unexpected(error: GraphQLError) -> bool:
    """A failure inside a resolver that nobody raised on purpose: a bug or an outage."""
    if (error.extensions or {}).get("code"):
        return False
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError) and bool(error.path)


def classify(error: GraphQLError, *, production: bool) -> GraphQLError:
    extensions = dict(error.extensions or {})
    if extensions.get("code"):
        return error
    if is_unexpected(error):
        if production:
            return GraphQLError(
                MASKED_MESSAGE,
                nodes=error.nodes,
                path=error.path,
                extensions={"code": "INTERNAL_SERVER_ERROR"},
            )
        extensions["code"] = "INTERNAL_SERVER_ERROR"
    elif any(marker in error.message for marker in _TOO_COMPLEX_MARKERS):
        extensions["code"] = "TOO_COMPLEX"
    else:
        # The document or its variables: syntax, validation, coercion.
        extensions["code"] = "BAD_REQUEST"
        if isinstance(error, GraphQLSyntaxError):
            extensions["reason"] = "GRAPHQL_PARSE_FAILED"
    return GraphQLError(
        error.message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error,
        extensions=extensions,
    )


def log_errors(errors: list[GraphQLError]) -> None:
    for error in errors:
        if is_unexpected(error):
            log.error(
                "unexpected error at %s: %s",
                ".".join(str(p) for p in error.path or ()),
                error.message,
                exc_info=error.original_error,
            )
        else:
            log.debug("graphql error: %s", error.message)
