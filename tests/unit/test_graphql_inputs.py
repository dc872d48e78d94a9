"""Input objects built by a plan (app.graphql.inputs) are the values strawberry would build."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import pytest
import strawberry

from app.graphql import inputs
from app.graphql.schema import build_schema
from app.settings import Settings


@strawberry.enum
class Kind(enum.Enum):
    FOOD = "food"
    DRINK = "drink"


@strawberry.input
class Amount:
    amount: int
    currency: str


@strawberry.input
class Item:
    sku: str
    kind: Kind
    price: Amount
    tags: list[str] | None = None


@strawberry.input
class Basket:
    id: strawberry.ID
    items: list[Item]
    note: str | None
    at: dt.datetime | None = None
    codes: list[int | None] = strawberry.field(default_factory=list)
    gift: Amount | None = None
    priority: int = 3


seen: list[Any] = []


@strawberry.type
class Query:
    @strawberry.field
    def basket(self, basket: Basket, spare: list[Basket] | None = None) -> int:
        seen.append((basket, spare))
        return len(basket.items)


DOCUMENT = """
query ($basket: Basket!, $spare: [Basket!]) { basket(basket: $basket, spare: $spare) }
"""
ITEM = {"sku": "A", "kind": "FOOD", "price": {"amount": 250, "currency": "USD"}}
VARIABLES = [
    {"basket": {"id": "b-1", "items": [ITEM], "note": None}},
    {
        "basket": {
            "id": "b-2",
            "items": [ITEM, {**ITEM, "kind": "DRINK", "tags": ["hot", "large"]}],
            "note": "Ré",
            "at": "2026-06-01T12:00:00+02:00",
            "codes": [1, None, 3],
            "gift": {"amount": 1000, "currency": "USD"},
            "priority": 1,
        },
        "spare": [{"id": "s", "items": [], "note": "empty"}],
    },
]


def schema_of(*, planned: bool) -> strawberry.Schema:
    for cls in (Amount, Item, Basket):  # the classes' definitions outlive each schema
        cls.__strawberry_definition__.from_input = None  # type: ignore[attr-defined]
    schema = strawberry.Schema(query=Query)
    if planned:
        inputs.install(schema)
        assert Basket.__strawberry_definition__.from_input is inputs.build  # type: ignore[attr-defined]
    return schema


async def built(variables: dict[str, Any], *, planned: bool = True, schema=None) -> Any:
    schema = schema or schema_of(planned=planned)
    seen.clear()
    result = await schema.execute(DOCUMENT, variable_values=variables)
    assert result.errors is None, result.errors
    return seen[0]


@pytest.mark.parametrize("variables", VARIABLES, ids=["the least", "everything"])
async def test_a_planned_input_equals_strawberrys(variables):
    # when
    planned = await built(variables, planned=True)
    strawberrys = await built(variables, planned=False)

    # then
    assert planned == strawberrys
    basket = planned[0]
    assert isinstance(basket, Basket) and isinstance(basket.items[0].price, Amount)
    assert basket.items[0].kind is Kind.FOOD


async def test_a_list_of_scalars_is_a_copy_per_request():
    # given: graphql-core hands every request the schema's one default (`codes: [Int]! = []`)
    schema = schema_of(planned=True)
    first = (await built(VARIABLES[0], schema=schema))[0]

    # when
    first.codes.append(99)
    second = (await built(VARIABLES[0], schema=schema))[0]

    # then
    assert second.codes == []


def test_every_input_of_the_api_is_planned():
    # when
    schema = build_schema(Settings())

    # then
    definitions = [
        concrete.definition
        for concrete in schema.schema_converter.type_map.values()
        if getattr(getattr(concrete, "definition", None), "is_input", False)
    ]
    assert len(definitions) >= 20
    assert all(definition.from_input is inputs.build for definition in definitions)
