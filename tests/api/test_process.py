"""What the app does to the process that serves it when it starts."""

from __future__ import annotations

import gc

from asgi_lifespan import LifespanManager

from app.main import create_app


async def test_the_served_app_puts_what_it_built_out_of_the_collectors_way(settings, db):
    # given: nothing frozen yet; the app builds its own database, as `loyalty serve` has it
    gc.unfreeze()
    app = create_app(settings)

    try:
        # when
        async with LifespanManager(app):
            # then
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


async def test_an_app_on_a_given_database_leaves_the_collector_alone(settings, db, clock):
    # given
    gc.unfreeze()
    app = create_app(settings, db=db, clock=clock)

    # when
    async with LifespanManager(app):
        # then
        assert gc.get_freeze_count() == 0
