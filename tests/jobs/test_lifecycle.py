"""The lifecycle module: what may happen to a task, and the docs that show it."""

import configparser
import re

import pytest

from jobs.lifecycle import ACTIONS, TRANSITIONS, WAITING, Action, Event, Status, actions_for, can, diagram
from tests.support import ROOT

ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"


def _block(name: str) -> str:
    text = ARCHITECTURE.read_text()
    found = re.search(rf"<!-- {name}:begin -->\n(.*?)\n<!-- {name}:end -->", text, re.S)
    assert found, f"docs/ARCHITECTURE.md has no {name} block"
    return found.group(1)


@pytest.mark.parametrize(("status", "cancel", "requeue"), [
    (Status.PENDING, True, False),
    (Status.SCHEDULED, True, False),
    (Status.RUNNING, True, False),
    (Status.COMPLETED, False, False),
    (Status.FAILED, False, True),
    (Status.CANCELLED, False, True),
])
def test_each_action_applies_only_in_its_statuses(status: Status, cancel: bool, requeue: bool) -> None:
    assert can(Action.CANCEL, status) is cancel
    assert can("requeue", status) is requeue
    assert actions_for(status) == {"cancel": cancel, "requeue": requeue}


def test_an_unknown_action_is_refused() -> None:
    with pytest.raises(ValueError, match="delete"):
        can("delete", Status.PENDING)


def test_every_event_is_recorded_by_some_transition() -> None:
    assert {t.event for t in TRANSITIONS} == set(Event)


def test_every_status_is_reachable_and_waiting_tasks_can_start() -> None:
    assert {t.target for t in TRANSITIONS} == set(Status)
    claim = next(t for t in TRANSITIONS if t.name == "claim")
    assert claim.sources == (Status.PENDING,) and Status.PENDING in WAITING


def test_operator_actions_match_the_transitions_they_start() -> None:
    requeue = [t for t in TRANSITIONS if t.name == "requeue"]
    assert {s for t in requeue for s in t.sources} == set(ACTIONS[Action.REQUEUE])
    cancel_sources = {s for t in TRANSITIONS if t.name in ("cancel", "request cancel") for s in t.sources}
    assert cancel_sources == set(ACTIONS[Action.CANCEL])


def test_event_short_names_drop_the_prefix() -> None:
    assert Event.CANCEL_REQUESTED.short == "cancel_requested"


def test_the_architecture_doc_shows_the_lifecycle_as_the_code_declares_it() -> None:
    assert _block("lifecycle") == diagram(), "regenerate with: python -c 'from jobs.lifecycle import diagram; ...'"


def test_the_architecture_doc_shows_the_layers_the_contracts_check() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    layers = [line.strip() for line in config["importlinter:contract:layers"]["layers"].splitlines() if line.strip()]
    lines = (line.strip() for line in _block("layers").strip("`\n").splitlines())
    shown = [line for line in lines if line and line != "▼"]
    assert shown == layers
