"""Structured logs: one JSON object per line, carrying the instance id."""

import json
import logging
import os
import socket
from datetime import UTC, datetime

INSTANCE = os.environ.get("INSTANCE_ID") or socket.gethostname()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "instance": INSTANCE,
            "pid": record.process,
            "process": record.processName,
            "thread": record.threadName,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)
