"""Which SECRET_KEY values production refuses: anyone who knows one can forge signed cookies and tokens."""

EMBEDDED_SECRET_KEY = "insecure-embedded-default-key-set-SECRET_KEY-in-production"  # noqa: S105
#: Words of the sample keys people copy from docs and compose files (case-insensitive).
PLACEHOLDER_WORDS = ("change-me", "changeme", "change_me", "insecure", "not-a-secret", "placeholder")
MIN_SECRET_KEY_LENGTH = 32


def secret_key_problem(key: str) -> str | None:
    """Why ``key`` cannot sign anything in production (anyone could forge with it), or None."""
    if not key:
        return "SECRET_KEY must be set in the environment"
    lowered = key.lower()
    if lowered.startswith("django-insecure-") or any(word in lowered for word in PLACEHOLDER_WORDS):
        return ("SECRET_KEY is a known placeholder: generate one "
                "(python -c 'import secrets; print(secrets.token_urlsafe(50))')")
    if len(key) < MIN_SECRET_KEY_LENGTH:
        return f"SECRET_KEY is {len(key)} characters long: use at least {MIN_SECRET_KEY_LENGTH} random ones"
    return None
