"""The strawberry ASGI view with our context."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, process_result
from strawberry.types import ExecutionResult

from app.auth import service as auth_service
from app.auth.tokens import TokenInvalid
from app.graphql.context import Context, Services
from app.graphql.extensions import classify
from app.graphql.loaders import build_loaders
from app.graphql.schema import build_schema


class LoyaltyGraphQL(GraphQL[Context, None]):
    def __init__(self, services: Services) -> None:
        settings = services.settings
        super().__init__(
            build_schema(settings),
            graphql_ide=None if settings.is_production else "graphiql",
            allow_queries_via_get=False,
        )
        self.services = services

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
                        self.services.db, self.services.settings, self.services.clock, token.strip()
                    )
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
