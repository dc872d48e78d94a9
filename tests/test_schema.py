"""The contract in the repo: the exported SDL, and the clients' operations against it."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import parse, validate

from app.cli import main
from app.graphql.schema import build_schema
from app.settings import Settings
from tests.support import operations

SDL = Path(__file__).resolve().parent.parent / "schema" / "schema.graphql"

# Operations of the contract whose features later issues build; each validates once its issue
# lands, and then this strict xfail fails until the line is removed.
PENDING: dict[str, str] = {}


def test_exported_sdl_is_committed(capsys):
    # when
    main(["export-schema"])

    # then
    exported = capsys.readouterr().out
    assert exported == SDL.read_text(), "run `loyalty export-schema > schema/schema.graphql`"


def test_operations_are_the_contract():
    contract = Path(__file__).resolve().parent.parent.parent / "shared" / "contract"
    if not contract.is_dir():
        pytest.skip("../shared/contract is not beside this checkout")
    for document in contract.glob("*.graphql"):
        assert (SDL.parent / "operations" / document.name).read_text() == document.read_text()


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            name,
            marks=pytest.mark.xfail(strict=True, reason=f"built by {PENDING[name]}")
            if name in PENDING
            else (),
        )
        for name in operations()
    ],
)
def test_operation_validates(name):
    schema = build_schema(Settings(_env_file=None))._schema

    errors = validate(schema, parse(operations()[name]))

    assert [error.message for error in errors] == []
