"""Idempotency keys are exact strings: compare them byte for byte on MySQL/MariaDB.

The table default (utf8mb4_unicode_ci) would treat "Order-A" and "order-a" (and
trailing spaces, accents) as the same key. SQLite already compares with BINARY.
"""

from django.db import migrations


def binary_collation(apps, schema_editor):
    if schema_editor.connection.vendor == "mysql":
        schema_editor.execute(
            "ALTER TABLE jobs_task MODIFY idempotency_key varchar(255) "
            "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL"
        )


def default_collation(apps, schema_editor):
    if schema_editor.connection.vendor == "mysql":
        schema_editor.execute(
            "ALTER TABLE jobs_task MODIFY idempotency_key varchar(255) CHARACTER SET utf8mb4 NULL"
        )


class Migration(migrations.Migration):
    # MySQL cannot roll DDL back, and Django refuses DDL inside a transaction there.
    atomic = False
    dependencies = [("jobs", "0001_initial")]

    operations = [migrations.RunPython(binary_collation, default_collation, elidable=False)]
