"""One test per finding of the hostile-tenant and production-defaults review (issue 12, docs/SECURITY.md)."""
