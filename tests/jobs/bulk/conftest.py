from tests.jobs.api.conftest import api, clean_api_state, make_api, operator_api, other_api  # noqa: F401
