"""Template filters of the console: ``num``, ``ms``, ``pct``, ``ts`` and a few helpers."""

import json
from datetime import datetime, timedelta
from typing import Any

from django import template
from django.utils.safestring import SafeString

from .. import formatting

register = template.Library()


@register.filter
def num(value: Any) -> str:
    return formatting.number(value)


@register.filter
def ms(value: float | int | timedelta | None) -> str:
    return formatting.duration_ms(value)


@register.filter
def pct(value: float | None) -> str:
    return formatting.percent(value)


@register.filter
def ts(value: datetime | str | None, fmt: str = "datetime") -> SafeString:
    return formatting.time_tag(value, fmt)


@register.filter
def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


@register.filter
def get(mapping: Any, key: Any) -> Any:
    try:
        return mapping[key]
    except (KeyError, IndexError, TypeError):
        return None
