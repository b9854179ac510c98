"""The API tests' callers and their clean limiter and key-cache state, for the unique-task tests."""

from tests.jobs.api.conftest import api, clean_api_state, make_api, other_api

__all__ = ["api", "clean_api_state", "make_api", "other_api"]
