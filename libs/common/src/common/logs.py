"""Structured JSON logs with the trace id that follows a message from ingest to delivery."""

from __future__ import annotations

import contextvars
import logging
import os
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

trace_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace_id", default=None)


def _add_trace(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    tid = trace_id.get()
    if tid and "trace_id" not in event:
        event["trace_id"] = tid
    return event


def _extra(record: logging.LogRecord) -> dict[str, Any]:
    skip = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
    return {k: v for k, v in record.__dict__.items() if k not in skip and not k.startswith("_")}


def _stdlib_extra(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    record = event.get("_record")
    if isinstance(record, logging.LogRecord):
        event.update(_extra(record))
    return event


def configure(service: str, level: str = "INFO", *, json: bool = True) -> None:
    """Route stdlib and structlog logging to one stream of JSON lines (or console)."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace,
    ]
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, _stdlib_extra],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service, pid=os.getpid())
