# The payment statuses of API.md §10 as a check, after 0004 renamed the rows written before.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("baskets", "0004_payments_two_phase"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="payment",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("status__in", ["authorised", "captured", "capture_failed", "voided", "refunded", "manual"])
                ),
                name="payment_status_known",
            ),
        ),
    ]
