"""The scenarios of ``python -m bench``: each module's ``run(bench)`` returns its figures."""

from collections.abc import Callable
from importlib import import_module
from typing import Any, cast

from ..options import SCENARIOS
from ..runtime import Bench

#: Scenario name → module (imported when the scenario runs).
MODULES = {name: name for name in SCENARIOS}


def runner(name: str) -> Callable[[Bench], dict[str, Any]]:
    return cast(Callable[[Bench], dict[str, Any]], import_module(f"{__name__}.{MODULES[name]}").run)
