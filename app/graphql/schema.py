"""build_schema(): the Query and Mutation of every domain module, the limits and the caches."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.extensions.disable_introspection import DisableIntrospection
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from app.graphql import inputs
from app.graphql.admin_members import AdminMembersQuery
from app.graphql.auth import AuthMutation
from app.graphql.checkout import CheckoutMutation, CheckoutQuery
from app.graphql.execution import Operations
from app.graphql.extensions import RequestLifecycle, log_errors
from app.graphql.live import LiveSubscription
from app.graphql.members import MembersMutation, MembersQuery
from app.graphql.notifications import NotificationsMutation
from app.graphql.offers import OffersMutation
from app.graphql.program import ProgramMutation, ProgramQuery
from app.graphql.rewards import RewardsMutation, RewardsQuery
from app.graphql.staff import StaffMutation, StaffQuery
from app.graphql.stats import SCALARS, StatsQuery
from app.graphql.webhooks import WebhooksMutation, WebhooksQuery
from app.settings import Settings


@strawberry.type
class Query(
    MembersQuery,
    StaffQuery,
    ProgramQuery,
    CheckoutQuery,
    RewardsQuery,
    WebhooksQuery,
    StatsQuery,
    AdminMembersQuery,
):
    pass


@strawberry.type
class Mutation(
    AuthMutation,
    MembersMutation,
    StaffMutation,
    ProgramMutation,
    CheckoutMutation,
    OffersMutation,
    RewardsMutation,
    NotificationsMutation,
    WebhooksMutation,
):
    pass


@strawberry.type
class Subscription(LiveSubscription):
    pass


class LoyaltySchema(strawberry.Schema):
    operations: Operations  # HTTP operations (app/graphql/execution.py)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Expected errors (permissions, bad documents) are not worth a traceback in the log.
        log_errors(errors)

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """Queries and mutations: the same steps as strawberry's, without its per-request
        extension machinery (the subscriptions' path keeps it)."""
        return await self.operations.execute(
            query,
            variable_values=variable_values,
            context_value=context_value,
            root_value=root_value,
            operation_name=operation_name,
            allowed_operation_types=(
                set(OperationType) if allowed_operation_types is None else allowed_operation_types
            ),
            operation_extensions=operation_extensions,
        )


def build_schema(settings: Settings) -> LoyaltySchema:
    # Queries and mutations run through `Operations` (app/graphql/execution.py) with the
    # limits' rules built here once; the extensions serve the subscriptions' path (websocket).
    # Factories: every subscription gets fresh extension instances. The parser and validation
    # caches live at module level in strawberry, keyed by size, so they span requests.
    # The validation cache is keyed by the rule classes too, and each limiter makes a new rule
    # class when built: build the limits' rules once, or the cache never hits.
    limits = [
        *QueryDepthLimiter(max_depth=settings.graphql_max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases).validation_rules,
    ]
    extensions: list[Any] = [
        RequestLifecycle,
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
        lambda: ParserCache(maxsize=1024),
        lambda: AddValidationRules(limits),
        lambda: ValidationCache(maxsize=1024),
    ]
    if settings.is_production:
        extensions.append(DisableIntrospection)
    schema = LoyaltySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(auto_camel_case=True, scalar_map=SCALARS),
    )
    inputs.install(schema)  # input objects built by a plan made once per class
    if schema.directives:
        raise RuntimeError("custom directives need strawberry's DirectivesExtension")
    schema.operations = Operations(
        schema._schema,
        rules=limits,
        max_tokens=settings.graphql_max_tokens,
        introspection=not settings.is_production,
        executor_class=schema.execution_context_class,
        process_errors=log_errors,
    )
    return schema
