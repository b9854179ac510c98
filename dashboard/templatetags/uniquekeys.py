"""The console's view of a task's unique key (``jobs.unique``): its states, its window, whether it is held."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django import template

from jobs import clock, unique

register = template.Library()


@dataclass(frozen=True, slots=True)
class Hold:
    states: list[str]
    #: Seconds, as submitted; ``None``: no window.
    window: int | None
    until: datetime | None
    held: bool
    #: Still in the column, but its window is over: the next enqueue of the key lets it go.
    lapsed: bool


@register.filter
def unique_hold(task: Any) -> Hold:
    held = unique.held(task, clock.now())
    return Hold(states=unique.groups(task.unique_states), window=unique.window_of(task), until=task.unique_until,
                held=held, lapsed=task.unique_active is not None and not held)
