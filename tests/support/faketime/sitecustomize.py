"""Loaded (through PYTHONPATH) only by the worker processes a test starts under ``faketime``.

A host whose clock is off has a wrong wall clock and a right monotonic one, so those
processes run with ``FAKETIME_DONT_FAKE_MONOTONIC=1`` (faking the monotonic clock too makes
libfaketime 0.9.10 hang every timed lock wait). In that mode its ``clock_nanosleep`` wrapper
fails absolute monotonic deadlines with EINVAL, which is how CPython's ``time.sleep`` waits:
sleep through ``select`` instead, a relative timeout libfaketime leaves alone.
"""

import select
import time


def _sleep(seconds: float) -> None:
    select.select([], [], [], seconds)


time.sleep = _sleep
