"""MariaDB query plans (``EXPLAIN`` / ``ANALYZE FORMAT=JSON``) as the tests read them."""

from typing import Any


def plan_tables(node: Any) -> list[dict[str, Any]]:
    """Every table access of a plan (the nodes naming a ``table_name``), subqueries and derived tables included."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "table_name" in node:
            found.append(node)
        for value in node.values():
            found += plan_tables(value)
    elif isinstance(node, list):
        for value in node:
            found += plan_tables(value)
    return found
