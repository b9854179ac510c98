"""Structured logs: one JSON object per line, carrying the instance id."""

import json
import logging
from datetime import UTC, datetime

from django.conf import settings


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "instance": settings.INSTANCE_NAME,
            "pid": record.process,
            "process": record.processName,
            "thread": record.threadName,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)
