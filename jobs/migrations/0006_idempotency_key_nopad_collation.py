"""Idempotency keys: also let trailing spaces count ("k" and "k " are different keys).

``utf8mb4_bin`` is a PAD SPACE collation; the NO PAD binary collation is spelled
``utf8mb4_nopad_bin`` on MariaDB and ``utf8mb4_0900_bin`` on MySQL 8.
"""

from django.db import migrations


def nopad(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "mysql":
        return
    collation = "utf8mb4_nopad_bin" if connection.mysql_is_mariadb else "utf8mb4_0900_bin"
    schema_editor.execute(
        f"ALTER TABLE jobs_task MODIFY idempotency_key varchar(255) CHARACTER SET utf8mb4 COLLATE {collation} NULL"
    )


def pad(apps, schema_editor):
    if schema_editor.connection.vendor == "mysql":
        schema_editor.execute(
            "ALTER TABLE jobs_task MODIFY idempotency_key varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL"
        )


class Migration(migrations.Migration):
    # MySQL cannot roll DDL back, and Django refuses DDL inside a transaction there.
    atomic = False

    dependencies = [("jobs", "0005_event_outbox")]

    operations = [migrations.RunPython(nopad, pad, elidable=False)]
