"""One HTTP operation, from its text to its result, in the fewest steps.

Strawberry's `Schema.execute` runs every request through its extension runner: six extension
objects made per request (the caches, the limits, the context's closing), a context manager per
hook and phase, an execution context object. For the till, a request's own work is a few
hundred microseconds of resolvers, so that machinery cost about a sixth of the server's CPU
(bench/README.md, run 14). `Operations` does the same steps once, in order, with the same
outcomes:

1. the document: parsed with the token limit (`GRAPHQL_MAX_TOKENS`), then validated with the
   specified rules, the depth and alias limits, strawberry's own rules and, in production, no
   introspection; both kept per document text (LRU), errors included;
2. the operation type: an unknown operation name, or a type the transport does not allow, is
   refused as strawberry refuses it (the view answers 400);
3. a subscription over plain HTTP is a bad request (they are served over the websocket);
4. graphql-core executes it with strawberry's execution context class; the request's read
   session is closed when it ends, whatever happens; errors go to `process_errors`.

Subscriptions (websocket) keep strawberry's path with the same extensions.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from inspect import isawaitable
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    execute,
    parse,
    specified_rules,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.validation import NoSchemaIntrospectionCustomRule
from starlette.websockets import WebSocket
from strawberry.exceptions import MissingQueryError
from strawberry.execution import optimized_is_awaitable
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.utils.operation import get_operation_type

SUBSCRIPTION_OVER_HTTP = (
    "Subscriptions are served over graphql-transport-ws: open a websocket on /graphql."
)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A document's text, parsed and validated: the document, or the errors to answer with."""

    document: DocumentNode | None
    errors: list[GraphQLError]


class Operations:
    """Prepares and runs HTTP operations against one schema (see the module's text)."""

    def __init__(
        self,
        schema: GraphQLSchema,
        *,
        rules: Sequence[type[ASTValidationRule]],
        max_tokens: int,
        introspection: bool,
        executor_class: type[Any],
        process_errors: Callable[[list[GraphQLError]], None],
        cache_size: int = 1024,
    ) -> None:
        self.schema = schema
        extra = () if introspection else (NoSchemaIntrospectionCustomRule,)
        self.rules = (*specified_rules, *rules, *extra)
        self.max_tokens = max_tokens
        self.executor_class = executor_class
        self.process_errors = process_errors
        self.cache_size = cache_size
        self._prepared: OrderedDict[str, Prepared] = OrderedDict()

    def prepare(self, query: str) -> Prepared:
        """The document of `query`, parsed and validated once per text (least recently used
        texts are forgotten past the cache's size)."""
        prepared = self._prepared.get(query)
        if prepared is not None:
            self._prepared.move_to_end(query)
            return prepared
        try:
            document = parse(query, max_tokens=self.max_tokens)
        except GraphQLError as error:
            prepared = Prepared(None, [error])
        else:
            prepared = Prepared(document, validate_document(self.schema, document, self.rules))
        self._prepared[query] = prepared
        if len(self._prepared) > self.cache_size:
            self._prepared.popitem(last=False)
        return prepared

    async def execute(
        self,
        query: str | None,
        *,
        variable_values: dict[str, Any] | None,
        context_value: Any,
        root_value: Any,
        operation_name: str | None,
        allowed_operation_types: Iterable[OperationType],
        operation_extensions: dict[str, Any] | None,
    ) -> ExecutionResult:
        try:
            checked = self._checked(query, operation_name, allowed_operation_types, context_value)
            if isinstance(checked, ExecutionResult):
                return checked  # refused before execution
            try:
                result: Any = execute(
                    self.schema,
                    checked,
                    root_value=root_value,
                    context_value=context_value,
                    variable_values=variable_values,
                    operation_name=operation_name,
                    executor_class=self.executor_class,
                    is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
                    operation_extensions=operation_extensions,
                )
                if isawaitable(result):
                    result = await result
            except Exception as error:  # as strawberry: an error in the result, not a 500
                failure = error if isinstance(error, GraphQLError) else None
                return self._failed([failure or GraphQLError(str(error), original_error=error)])
            assert isinstance(result, GraphQLExecutionResult)
            if result.errors:
                self.process_errors(result.errors)
            return ExecutionResult(data=result.data, errors=result.errors)
        finally:
            close: Callable[[], Awaitable[None]] | None = getattr(context_value, "close", None)
            if close is not None:
                await close()  # the request's read session

    def _checked(
        self,
        query: str | None,
        operation_name: str | None,
        allowed_operation_types: Iterable[OperationType],
        context_value: Any,
    ) -> DocumentNode | ExecutionResult:
        """The document to execute, or the answer that refuses it (steps 1 to 3); raises what
        strawberry raises for the view to answer 400."""
        if not query:
            raise MissingQueryError
        prepared = self.prepare(query)
        if prepared.document is None:  # a syntax error, or too many tokens
            return self._failed(prepared.errors)
        try:
            operation_type = get_operation_type(prepared.document, operation_name)
        except RuntimeError as error:
            raise CannotGetOperationTypeError(operation_name) from error
        if operation_type not in allowed_operation_types:
            raise InvalidOperationTypeError(operation_type)
        if prepared.errors:
            return self._failed(prepared.errors)
        if operation_type is OperationType.SUBSCRIPTION and not isinstance(
            getattr(context_value, "request", None), WebSocket
        ):
            refusal = GraphQLError(SUBSCRIPTION_OVER_HTTP, extensions={"code": "BAD_REQUEST"})
            return self._failed([refusal])
        return prepared.document

    def _failed(self, errors: list[GraphQLError]) -> ExecutionResult:
        self.process_errors(errors)
        return ExecutionResult(data=None, errors=errors)
