import secrets

import django.db.models.deletion
from django.db import migrations, models

import payments.models


def give_each_order_a_token(apps, schema_editor):
    Order = apps.get_model("payments", "Order")
    for order in Order.objects.filter(access_token__isnull=True).only("pk").iterator():
        Order.objects.filter(pk=order.pk).update(access_token=secrets.token_urlsafe(32))


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0004_order_problems_and_stripe_checked_at'),
    ]

    operations = [
        # Existing orders each get their own token: a unique column with a
        # callable default would give them all the same one.
        migrations.AddField(
            model_name='order',
            name='access_token',
            field=models.CharField(editable=False, max_length=64, null=True),
        ),
        migrations.RunPython(give_each_order_a_token, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='order',
            name='access_token',
            field=models.CharField(default=payments.models.order_access_token_new, editable=False, max_length=64, unique=True),
        ),
        migrations.CreateModel(
            name='OrderEmail',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('confirmation', 'Order confirmation'), ('staff_new_order', 'New order (staff)'), ('shipped', 'Shipped'), ('refunded', 'Refund')], max_length=20)),
                ('event_key', models.CharField(max_length=255)),
                ('recipient', models.EmailField(max_length=254)),
                ('context', models.JSONField(blank=True, default=dict)),
                ('status', models.CharField(choices=[('queued', 'Queued'), ('sent', 'Sent'), ('failed', 'Failed')], default='queued', max_length=10)),
                ('attempts', models.PositiveSmallIntegerField(default=0)),
                ('last_error', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('sent_at', models.DateTimeField(blank=True, null=True)),
                ('order', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='emails', to='payments.order')),
            ],
            options={
                'ordering': ['-created_at'],
                'constraints': [models.UniqueConstraint(fields=('order', 'kind', 'event_key'), name='order_email_once_per_event'), models.CheckConstraint(condition=models.Q(('status', 'sent'), _negated=True) | models.Q(('sent_at__isnull', False)), name='order_email_sent_has_sent_at')],
            },
        ),
    ]
