"""The security tests call the API as tenants and operators do: the API suite's callers and clean state."""

from tests.jobs.api.conftest import (  # noqa: F401  (fixtures)
    api,
    clean_api_state,
    demo_mode,
    make_api,
    operator_api,
    other_api,
    world,
)
