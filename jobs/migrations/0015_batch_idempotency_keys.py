"""Batch idempotency keys (jobs.models.BatchKey), compared byte for byte like the tasks' keys (0006, 0014)."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


def nopad(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "mysql":
        return
    collation = "utf8mb4_nopad_bin" if connection.mysql_is_mariadb else "utf8mb4_0900_bin"
    schema_editor.execute(
        f"ALTER TABLE jobs_batchkey MODIFY `key` varchar(255) CHARACTER SET utf8mb4 COLLATE {collation} NOT NULL"
    )


class Migration(migrations.Migration):
    # MySQL cannot roll DDL back, and Django refuses DDL inside a transaction there.
    atomic = False

    dependencies = [
        ('jobs', '0014_unique_active_nopad_collation'),
        ('tenants', '0004_tenant_admission_and_operator_permission'),
    ]

    operations = [
        migrations.CreateModel(
            name='BatchKey',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key', models.CharField(max_length=255)),
                ('request_hash', models.CharField(max_length=64)),
                ('status_code', models.PositiveSmallIntegerField()),
                ('response', models.JSONField()),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenants.tenant')),
            ],
            options={
                'indexes': [models.Index(fields=['created_at'], name='batchkey_created_idx')],
                'constraints': [models.UniqueConstraint(fields=('tenant', 'key'), name='batchkey_tenant_key_uniq')],
            },
        ),
        migrations.RunPython(nopad, migrations.RunPython.noop, elidable=False),
    ]
