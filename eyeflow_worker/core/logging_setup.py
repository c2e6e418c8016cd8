"""Logging for the gateway and workers.

SDK and HTTP-client loggers are held at WARNING whatever LOG_LEVEL says: at DEBUG they print
request options and headers, and those can carry API keys.
"""

from __future__ import annotations

import logging

from eyeflow_worker.core.settings import Settings

_CHATTY_LOGGERS = ("httpx", "httpcore", "httpx2", "httpcore2", "anthropic", "openai", "urllib3")


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    quiet_chatty_loggers()


def quiet_chatty_loggers() -> None:
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
