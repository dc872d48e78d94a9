"""The strawberry ASGI view with our context."""

from __future__ import annotations

from typing import Any

from cross_web import HTTPException  # what strawberry's view raises for a refused request
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLHTTPResponse, process_result
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from app.auth import service as auth_service
from app.auth.tokens import TokenInvalid
from app.graphql.context import Context, Services
from app.graphql.extensions import classify
from app.graphql.live import MemberSocketHandler
from app.graphql.loaders import build_loaders
from app.graphql.schema import build_schema
from app.http.guard import JSON_BODY, send_json
from app.kit import jsontext

_HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


class LoyaltyGraphQL(GraphQL[Context, None]):
    # Subscriptions: graphql-transport-ws only, the token in connection_init (see the handler).
    graphql_transport_ws_handler_class = MemberSocketHandler

    def __init__(self, services: Services) -> None:
        settings = services.settings
        super().__init__(
            build_schema(settings),
            graphql_ide=None if settings.is_production else "graphiql",
            allow_queries_via_get=False,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            allowed_origins=settings.cors_origins,  # browsers on other origins, as for CORS
        )
        self.services = services

    def decode_json(self, data: str | bytes) -> object:
        return jsontext.loads(data)  # its errors are json's, which the view answers with a 400

    def encode_json(self, data: object) -> str:
        # Text, not bytes: the websocket sends what this returns, and graphql-transport-ws
        # speaks text frames.
        return jsontext.dumps(data)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Strawberry answers a request it refuses (no query, variables not an object, unknown
        operation name, GET, unsupported content type) in plain text; answer as a GraphQL
        transport error with `extensions.code` instead, keeping the status.

        A POST of one JSON operation (every client's request), whose body the guard in front
        has read, takes `_post`: the same checks, context and answer as strawberry's view,
        without its request adapters and response objects (a tenth of a till's request)."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            body = scope.get(JSON_BODY)
            if isinstance(body, dict) and scope["method"] == "POST" and not self._streams(scope):
                await send_json(send, 200, await self._post(scope, body))
                return
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as error:
            code = _HTTP_CODES.get(error.status_code, "BAD_REQUEST")
            response = JSONResponse(
                {"errors": [{"message": error.reason, "extensions": {"code": code}}]},
                status_code=error.status_code,
            )
        await response(scope, receive, send)

    def _streams(self, scope: Scope) -> bool:
        """Whether the client asks for a streamed answer (multipart, event stream): strawberry's
        view answers those."""
        for name, value in scope["headers"]:
            if name == b"accept":
                lowered = value.lower()  # strawberry's transports answer only these two
                if b"multipart/mixed" not in lowered and b"text/event-stream" not in lowered:
                    return False
                accept = value.decode("latin-1")
                return self._get_stream_transport_from_headers({"accept": accept}) is not None
        return False

    async def _post(self, scope: Scope, data: dict[str, Any]) -> bytes:
        """One operation of a JSON body, checked and answered as strawberry's view does it."""
        query = data.get("query")
        if not isinstance(query, str | None):
            raise HTTPException(
                400, "The GraphQL operation's `query` must be a string or null, if provided."
            )
        variables = data.get("variables")
        if not isinstance(variables, dict | None):
            raise HTTPException(
                400, "The GraphQL operation's `variables` must be an object or null, if provided."
            )
        extensions = data.get("extensions")
        if not isinstance(extensions, dict | None):
            raise HTTPException(
                400,
                "The GraphQL operation's `extensions` must be an object or null, if provided.",
            )
        authorization = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        client = scope.get("client")
        context = await self._context(authorization, client[0] if client else None)
        try:
            result = await self.schema.execute(
                query,
                variable_values=variables,
                context_value=context,
                operation_name=data.get("operationName"),
                allowed_operation_types=_POST_OPERATIONS,
                operation_extensions=extensions,
            )
        except CannotGetOperationTypeError as error:
            raise HTTPException(400, error.as_http_error_reason()) from error
        except InvalidOperationTypeError as error:
            raise HTTPException(400, error.as_http_error_reason("POST")) from error
        except MissingQueryError as error:
            raise HTTPException(400, "No GraphQL query found in the request") from error
        return jsontext.dumps_bytes(self._answer(result))

    async def process_result(
        self, request: Request | WebSocket, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        return self._answer(result)

    def _answer(self, result: ExecutionResult) -> GraphQLHTTPResponse:
        if result.errors:
            production = self.services.settings.is_production
            result.errors = [classify(error, production=production) for error in result.errors]
        return process_result(result)

    async def get_context(self, request: Request | WebSocket, response: Any = None) -> Context:
        client = request.client.host if request.client else None
        context = await self._context(request.headers.get("authorization", ""), client)
        context.request, context.response = request, response
        return context

    async def _context(self, authorization: str, client_address: str | None) -> Context:
        actor = None
        auth_error = None
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                auth_error = "Use `Authorization: Bearer <accessToken>`."
            else:
                try:
                    actor = await auth_service.actor_for_token(
                        self.services.db, self.services.settings, self.services.clock,
                        token.strip(), cache=self.services.actor_cache,
                    )  # fmt: skip
                except TokenInvalid:
                    auth_error = "The access token is invalid or has expired. Refresh the session."
        context = Context(
            services=self.services,
            actor=actor,
            auth_error=auth_error,
            client_address=client_address,
        )
        context.loaders = build_loaders(context)
        return context


_POST_OPERATIONS = OperationType.from_http("POST")
