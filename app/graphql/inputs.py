"""Input objects built from their GraphQL values by a plan made once per class.

Strawberry converts an input value field by field, resolving each field's type on every request
(`convert_argument`): for `PurchaseInput` with three lines, 37 calls and about a fifth of the CPU
that HTTP and GraphQL spend on a purchase. `install` gives every input type of the schema a
`from_input` hook (strawberry's documented hook for types that build their own value) that
follows a plan made on first use: the fields' GraphQL names, and for each value, as is (a
scalar or an enum, which graphql-core has parsed already), copied (a list of those), or built
the same way (a nested input, a list of them). Anything else (a GlobalID, a `Maybe`) is handed
back to strawberry's conversion, field by field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING
from typing import Any

import strawberry
from strawberry.relay import GlobalID
from strawberry.scalars import is_scalar
from strawberry.types.arguments import InputContext
from strawberry.types.base import (
    StrawberryList,
    StrawberryMaybe,
    StrawberryObjectDefinition,
    StrawberryOptional,
    StrawberryType,
    has_object_definition,
)
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition
from strawberry.types.lazy_type import LazyType

Convert = Callable[[Any, InputContext], Any]


def install(schema: strawberry.Schema) -> None:
    """Build every input object of the schema with a plan (`from_input`), unless it has a
    `Maybe` field: strawberry checks their nulls in the document only for types without one."""
    for concrete in schema.schema_converter.type_map.values():
        definition = getattr(concrete, "definition", None)
        if (
            isinstance(definition, StrawberryObjectDefinition)
            and definition.is_input
            and definition.from_input is None
            and not any(isinstance(field.type, StrawberryMaybe) for field in definition.fields)
        ):
            definition.from_input = build


class _Plan:
    __slots__ = ("defaults", "fields")

    def __init__(
        self, defaults: dict[str, None], fields: list[tuple[str, str, Convert | None]]
    ) -> None:
        self.defaults = defaults  # the fields without a default start as None, as strawberry's
        self.fields = fields  # (GraphQL name, Python name, how to convert a value; None: as is)


_PLANS: dict[type, _Plan] = {}


def build(cls: type, value: Mapping[str, Any], context: InputContext) -> Any:
    """The `from_input` hook: an instance of `cls` from its GraphQL input value."""
    plan = _PLANS.get(cls)
    if plan is None:
        plan = _PLANS[cls] = _plan(cls, context)
    kwargs: dict[str, Any] = dict(plan.defaults)
    for graphql_name, python_name, convert in plan.fields:
        if graphql_name in value:
            item = value[graphql_name]
            kwargs[python_name] = (
                item if convert is None or item is None else convert(item, context)
            )
    return cls(**kwargs)


def _plan(cls: type, context: InputContext) -> _Plan:
    definition: StrawberryObjectDefinition = cls.__strawberry_definition__  # type: ignore[attr-defined]
    defaults: dict[str, None] = {}
    fields: list[tuple[str, str, Convert | None]] = []
    for field in definition.fields:
        if field.default_value is MISSING and field.default_factory is MISSING:
            defaults[field.python_name] = None
        graphql_name = context.config.name_converter.from_field(field)
        field_type = field.resolve_type(type_definition=definition)
        fields.append(
            (graphql_name, field.python_name, _converter(field_type, graphql_name, context))
        )
    return _Plan(defaults, fields)


def _converter(type_: Any, name: str, context: InputContext) -> Convert | None:
    """How to convert a non-null value of this type; None when it is taken as it is."""
    if isinstance(type_, StrawberryOptional) and not isinstance(type_, StrawberryMaybe):
        type_ = type_.of_type  # a null passes as it is
    if isinstance(type_, LazyType):
        type_ = type_.resolve_type()
    if _is_leaf(type_, context):
        return None
    if isinstance(type_, StrawberryList):
        of = type_.of_type
        if isinstance(of, StrawberryOptional) and not isinstance(of, StrawberryMaybe):
            of = of.of_type
        item = _converter(of, name, context)
        if item is None:  # copied: graphql-core shares one default list between requests
            return lambda values, _context: list(values)
        return lambda values, context: [
            None if value is None else item(value, context) for value in values
        ]
    if has_object_definition(type_) and type_.__strawberry_definition__.is_input:
        nested: type = type_

        def build_nested(value: Any, context: InputContext) -> Any:
            hook = nested.__strawberry_definition__.from_input  # type: ignore[attr-defined]
            if hook is None:  # not installed on it: strawberry's way
                return context.convert(value, nested, name)
            return hook(nested, value, context)

        return build_nested
    # A GlobalID, a Maybe, anything else: strawberry's conversion.
    return lambda value, context: context.convert(value, type_, name)


def _is_leaf(type_: Any, context: InputContext) -> bool:
    if isinstance(type_, StrawberryType) and not isinstance(type_, StrawberryEnumDefinition):
        return False  # a list, an optional, a generic: not a leaf
    if type_ is GlobalID:
        return False  # parsed by strawberry, from its string
    return (
        is_scalar(type_, context.scalar_registry)
        or isinstance(type_, StrawberryEnumDefinition)
        or has_enum_definition(type_)
    )
