"""Failed attempts are counted apart from dead-lettered tasks (AttemptStat), and the throughput buckets
carry the timings and attempts of a rolling window (the last hour's averages and rates)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0016_webhook_endpoints'),
        ('tenants', '0004_tenant_admission_and_operator_permission'),
    ]

    operations = [
        migrations.AddField(
            model_name='throughputbucket',
            name='attempts',
            field=models.BigIntegerField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name='throughputbucket',
            name='exec_ms_sum',
            field=models.BigIntegerField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name='throughputbucket',
            name='failed_attempts',
            field=models.BigIntegerField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name='throughputbucket',
            name='timed',
            field=models.BigIntegerField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name='throughputbucket',
            name='wait_ms_sum',
            field=models.BigIntegerField(db_default=0, default=0),
        ),
        migrations.CreateModel(
            name='AttemptStat',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('hour', models.DateTimeField()),
                ('type', models.CharField(max_length=100)),
                ('attempts', models.BigIntegerField(db_default=0, default=0)),
                ('failed_attempts', models.BigIntegerField(db_default=0, default=0)),
                ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenants.tenant')),
            ],
            options={
                'indexes': [models.Index(fields=['hour'], name='attemptstat_hour_idx')],
                'constraints': [models.UniqueConstraint(fields=('tenant', 'hour', 'type'), name='attemptstat_key')],
            },
        ),
    ]
