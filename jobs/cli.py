"""argparse ``type=`` validators shared by the engine's commands."""

import argparse
import json
from typing import Any


def positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def non_negative_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number") from None
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError(f"must be zero or more (got {raw})")
    return value


def priority(raw: str) -> int:
    value = positive_int(raw)
    if value > 5:
        raise argparse.ArgumentTypeError(f"must be between 1 and 5 (got {value})")
    return value


def json_object(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object, e.g. '{\"seconds\": 2}'")
    return value


def queue_list(raw: str) -> list[str]:
    queues = [q.strip() for q in raw.split(",") if q.strip()]
    if not queues:
        raise argparse.ArgumentTypeError("give at least one queue name")
    return queues
