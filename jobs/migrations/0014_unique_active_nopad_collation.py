"""Unique keys compare byte for byte, trailing spaces included (as idempotency keys do, 0006)."""

from django.db import migrations


def nopad(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "mysql":
        return
    collation = "utf8mb4_nopad_bin" if connection.mysql_is_mariadb else "utf8mb4_0900_bin"
    for column in ("unique_key", "unique_active"):
        schema_editor.execute(
            f"ALTER TABLE jobs_task MODIFY {column} varchar(255) CHARACTER SET utf8mb4 COLLATE {collation} NULL"
        )


def pad(apps, schema_editor):
    if schema_editor.connection.vendor == "mysql":
        for column in ("unique_key", "unique_active"):
            schema_editor.execute(
                f"ALTER TABLE jobs_task MODIFY {column} varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL"
            )


class Migration(migrations.Migration):
    # MySQL cannot roll DDL back, and Django refuses DDL inside a transaction there.
    atomic = False

    dependencies = [("jobs", "0013_unique_schedules_audit_bulk")]

    operations = [migrations.RunPython(nopad, pad, elidable=False)]
