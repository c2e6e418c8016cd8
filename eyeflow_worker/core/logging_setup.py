"""Logging for the gateway and workers: `LOG_FORMAT=text` (the default) or `json`.

`json` writes one JSON object per line (python-json-logger): `ts` (ISO 8601, UTC), `level`,
`logger`, `message`, `exc_info` (the traceback as text) when there is one, and the fields bound
for the job or request the line is about (`core/log_context.py`): `task_id`, `tenant`, `kind`,
`attempt`, and in the gateway `request_id`, `path`, `method`.

SDK and HTTP-client loggers are held at WARNING whatever LOG_LEVEL says: at DEBUG they print
request options and headers, and those can carry API keys.
"""

from __future__ import annotations

import logging

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from eyeflow_worker.core.log_context import LogContextFilter
from eyeflow_worker.core.settings import Settings

_CHATTY_LOGGERS = ("httpx", "httpcore", "httpx2", "httpcore2", "anthropic", "openai", "urllib3")
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Loggers that come with handlers of their own (uvicorn's dictConfig): in JSON mode they hand
# their records to the root's JSON handler instead, so every line has one format.
_SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def json_formatter() -> logging.Formatter:
    return JsonFormatter(
        "%(levelname)s %(name)s %(message)s",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="ts",
        # uvicorn's copy of the message with terminal colour codes: noise in a JSON line.
        reserved_attrs=[*RESERVED_ATTRS, "color_message"],
    )


def configure_logging(
    settings: Settings,
    *,
    level: int | str | None = None,
    context_filter: LogContextFilter | None = None,
) -> None:
    """The process's logging: the root logger at `level` (default LOG_LEVEL), in LOG_FORMAT.
    `context_filter` (JSON only) supplies the job fields; the workers pass theirs."""
    resolved = level if level is not None else settings.log_level.upper()
    if settings.log_format == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(json_formatter())
        handler.addFilter(context_filter or LogContextFilter())
        root = logging.getLogger()
        root.handlers = [handler]
        root.setLevel(resolved)
        # Python's warnings would print as text on stderr: they become JSON lines too.
        logging.captureWarnings(True)
        for name in _SERVER_LOGGERS:
            server_logger = logging.getLogger(name)
            server_logger.handlers = []
            server_logger.propagate = True
    else:
        logging.basicConfig(level=resolved, format=_TEXT_FORMAT)
    quiet_chatty_loggers()


def quiet_chatty_loggers() -> None:
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
