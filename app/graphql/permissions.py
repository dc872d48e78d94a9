"""Coarse gates per field. Object-level checks live in the services."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.permission import BasePermission

from app.auth.actors import MemberActor, StaffActor


def _require_signed_in(info: strawberry.Info) -> Any:
    actor = info.context.actor
    if actor is None:
        raise GraphQLError(
            info.context.auth_error or "Sign in first: send `Authorization: Bearer <accessToken>`.",
            extensions={"code": "UNAUTHENTICATED"},
        )
    return actor


class IsMember(BasePermission):
    message = "Only a member may do this."
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return isinstance(_require_signed_in(info), MemberActor)


class IsStaff(BasePermission):
    message = "Only staff may do this."
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return isinstance(_require_signed_in(info), StaffActor)


class IsAdmin(BasePermission):
    message = "Only an administrator may do this."
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        actor = _require_signed_in(info)
        return isinstance(actor, StaffActor) and actor.is_admin
