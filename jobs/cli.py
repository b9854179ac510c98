"""argparse ``type=`` validators shared by the engine's commands (and the development tooling's)."""

import argparse
import json
from typing import Any


def _integer(raw: str, low: int, high: int | None = None) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not an integer") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else "zero or more" if low == 0 else f"at least {low}"
        raise argparse.ArgumentTypeError(f"must be {bound} (got {value})")
    return value


def _number(raw: str, *, allow_zero: bool) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number") from None
    if value != value or value < 0 or (value == 0 and not allow_zero):
        raise argparse.ArgumentTypeError(f"must be {'zero or more' if allow_zero else 'more than zero'} (got {raw})")
    return value


def positive_int(raw: str) -> int:
    return _integer(raw, 1)


def positive_int_or_none(raw: str) -> int | None:
    """A cap: a whole number ≥ 1, or ``none`` (no cap)."""
    return None if raw.strip().lower() == "none" else _integer(raw, 1)


def non_negative_int(raw: str) -> int:
    return _integer(raw, 0)


def port_number(raw: str) -> int:
    return _integer(raw, 1, 65535)


def positive_float(raw: str) -> float:
    return _number(raw, allow_zero=False)


def non_negative_float(raw: str) -> float:
    return _number(raw, allow_zero=True)


def priority(raw: str) -> int:
    return _integer(raw, 1, 5)


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
