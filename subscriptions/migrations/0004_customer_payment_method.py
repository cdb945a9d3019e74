# What off-session charges (renewals) need: the gateway's customer and the saved payment method.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("subscriptions", "0003_subscription_pending_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="customer",
            name="payment_customer_id",
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.AddField(
            model_name="customer",
            name="default_payment_method_id",
            field=models.CharField(blank=True, max_length=255),
        ),
    ]
