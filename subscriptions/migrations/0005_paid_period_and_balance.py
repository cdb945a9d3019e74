"""What a subscription was actually charged for its billing period, and the customer's balance (issue 13).

Existing subscriptions are backfilled with their term as the billing period and a paid amount of
0.00: what their order charged is not recorded in this app (payments live in baskets, and many
rows predate payments), and 0.00 is the one safe value, since a credit can then never exceed the
money received. Their next renewal records what it charges.
"""

from decimal import Decimal

from django.db import migrations, models
from django.db.models import F


def backfill(apps, schema_editor):
    Subscription = apps.get_model("subscriptions", "Subscription")
    Subscription.objects.update(
        paid_amount=Decimal(0), paid_from=F("term_start"), period_start=F("term_start"), period_end=F("term_end")
    )


class Migration(migrations.Migration):
    dependencies = [("subscriptions", "0004_customer_payment_method")]

    operations = [
        migrations.AddField(
            model_name="customer",
            name="balance",
            field=models.DecimalField(decimal_places=2, default=Decimal(0), max_digits=12),
        ),
        migrations.AddConstraint(
            model_name="customer",
            constraint=models.CheckConstraint(condition=models.Q(balance__gte=0), name="customer_balance_non_negative"),
        ),
        migrations.AddField(
            model_name="subscription",
            name="paid_amount",
            field=models.DecimalField(decimal_places=2, default=Decimal(0), max_digits=12),
        ),
        migrations.AddField(model_name="subscription", name="paid_from", field=models.DateTimeField(null=True)),
        migrations.AddField(model_name="subscription", name="period_start", field=models.DateTimeField(null=True)),
        migrations.AddField(model_name="subscription", name="period_end", field=models.DateTimeField(null=True)),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AlterField(model_name="subscription", name="paid_from", field=models.DateTimeField()),
        migrations.AlterField(model_name="subscription", name="period_start", field=models.DateTimeField()),
        migrations.AlterField(model_name="subscription", name="period_end", field=models.DateTimeField()),
        migrations.AddConstraint(
            model_name="subscription",
            constraint=models.CheckConstraint(
                condition=models.Q(paid_amount__gte=0), name="subscription_paid_non_negative"
            ),
        ),
    ]
