"""Structured logs: one JSON object a line, with the record's extra fields and nothing noisy."""

from __future__ import annotations

import json
import logging

from app.logs import JsonFormatter, logging_config


def test_a_record_is_one_json_line_with_its_extra_fields_but_not_uvicorns_colours():
    # given: what uvicorn logs, its message repeated with terminal colours
    record = logging.makeLogRecord(
        {"name": "uvicorn.error", "levelname": "INFO", "msg": "Started server process [%d]",
         "args": (42,), "color_message": "Started server process [\x1b[36m%d\x1b[0m]",
         "worker": "w-1"}
    )  # fmt: skip

    # when
    line = JsonFormatter().format(record)

    # then
    entry = json.loads(line)
    assert "\n" not in line
    assert {k: v for k, v in entry.items() if k != "time"} == {
        "level": "info",
        "logger": "uvicorn.error",
        "message": "Started server process [42]",
        "worker": "w-1",
    }


def test_alembics_plugin_announcements_are_not_logged():
    # when
    config = logging_config("info")

    # then
    assert config["loggers"]["alembic.runtime.plugins"] == {"level": "WARNING"}
    assert config["root"]["level"] == "INFO"
