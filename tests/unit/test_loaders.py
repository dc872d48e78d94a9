"""The request's DataLoaders: built when first asked for, one per name for the request."""

from __future__ import annotations

import pytest
from strawberry.dataloader import DataLoader

from app.graphql.loaders import build_loaders


def test_a_loader_is_built_when_first_asked_for_and_kept():
    # given
    loaders = build_loaders(ctx=object())  # type: ignore[arg-type]  (nothing loads here)

    # when
    before = dict(loaders)
    account = loaders["account"]

    # then
    assert before == {}
    assert isinstance(account, DataLoader)
    assert loaders["account"] is account
    assert loaders["stores_of_staff"] is not account
    assert sorted(loaders) == ["account", "stores_of_staff"]


def test_an_unknown_loader_is_an_error():
    with pytest.raises(KeyError):
        build_loaders(ctx=object())["nope"]  # type: ignore[arg-type]
