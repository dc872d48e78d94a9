"""The strawberry ASGI view with our context."""

from __future__ import annotations

from typing import Any

from cross_web import HTTPException  # what strawberry's view raises for a refused request
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, process_result
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult

from app.auth import service as auth_service
from app.auth.tokens import TokenInvalid
from app.graphql.context import Context, Services
from app.graphql.extensions import classify
from app.graphql.live import MemberSocketHandler
from app.graphql.loaders import build_loaders
from app.graphql.schema import build_schema
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
        transport error with `extensions.code` instead, keeping the status."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as error:
            code = _HTTP_CODES.get(error.status_code, "BAD_REQUEST")
            response = JSONResponse(
                {"errors": [{"message": error.reason, "extensions": {"code": code}}]},
                status_code=error.status_code,
            )
        await response(scope, receive, send)

    async def process_result(
        self, request: Request | WebSocket, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        if result.errors:
            production = self.services.settings.is_production
            result.errors = [classify(error, production=production) for error in result.errors]
        return process_result(result)

    async def get_context(self, request: Request | WebSocket, response: Any = None) -> Context:
        actor = None
        auth_error = None
        header = request.headers.get("authorization", "")
        if header:
            scheme, _, token = header.partition(" ")
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
            client_address=request.client.host if request.client else None,
            request=request,
            response=response,
        )
        context.loaders = build_loaders(context)
        return context
