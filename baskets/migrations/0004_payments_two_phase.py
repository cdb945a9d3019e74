# Payments in two phases (API.md §10): the statuses authorised, captured, capture_failed, voided,
# refunded and manual; the gateway's reference; refunds; capture retries; the holds claiming an
# authorisation; webhook events stored once. 0005 adds the status check once the rows are renamed.

import uuid
from decimal import Decimal

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

# Rows written before: `recorded` (the manual gateway) is now `manual`; the spelling is British.
STATUS_RENAMES = {"recorded": "manual", "authorized": "authorised"}


def rename_statuses(apps, schema_editor):
    Payment = apps.get_model("baskets", "Payment")
    for old, new in STATUS_RENAMES.items():
        Payment.objects.filter(status=old).update(status=new)
    Payment.objects.update(updated=models.F("created"))


def restore_statuses(apps, schema_editor):
    Payment = apps.get_model("baskets", "Payment")
    for old, new in STATUS_RENAMES.items():
        Payment.objects.filter(status=new).update(status=old)


class Migration(migrations.Migration):

    dependencies = [
        ("baskets", "0003_basket_active_expiry_index"),
    ]

    operations = [
        migrations.RenameField(model_name="payment", old_name="reference", new_name="gateway_reference"),
        migrations.AlterField(
            model_name="payment",
            name="gateway_reference",
            field=models.CharField(
                blank=True,
                help_text="The gateway's id of the payment, or the caller's reference (manual)",
                max_length=255,
            ),
        ),
        migrations.AlterField(
            model_name="payment",
            name="status",
            field=models.CharField(
                choices=[
                    ("authorised", "Authorised (not yet captured)"),
                    ("captured", "Captured"),
                    ("capture_failed", "Capture failed (retrying)"),
                    ("voided", "Voided"),
                    ("refunded", "Refunded"),
                    ("manual", "Manual (no payment taken)"),
                ],
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="payment",
            name="refunded_amount",
            field=models.DecimalField(decimal_places=2, default=Decimal("0"), max_digits=12),
        ),
        migrations.AddField(
            model_name="payment",
            name="capture_attempts",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="payment",
            name="next_capture_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="payment",
            name="last_error",
            field=models.CharField(blank=True, max_length=100),
        ),
        migrations.AddField(
            model_name="payment",
            name="updated",
            field=models.DateTimeField(auto_now=True, default=django.utils.timezone.now),
            preserve_default=False,
        ),
        migrations.AddIndex(
            model_name="payment",
            index=models.Index(
                condition=models.Q(("status__in", ["authorised", "capture_failed"])),
                fields=["next_capture_at"],
                name="payment_to_capture",
            ),
        ),
        migrations.AddConstraint(
            model_name="payment",
            constraint=models.CheckConstraint(
                condition=models.Q(("refunded_amount__gte", 0), ("refunded_amount__lte", models.F("amount"))),
                name="payment_refunds_within_amount",
            ),
        ),
        migrations.AddConstraint(
            model_name="payment",
            constraint=models.UniqueConstraint(
                condition=models.Q(
                    models.Q(("gateway", "manual"), _negated=True),
                    models.Q(("gateway_reference", ""), _negated=True),
                ),
                fields=("gateway", "gateway_reference"),
                name="payment_gateway_reference_unique",
            ),
        ),
        migrations.CreateModel(
            name="PaymentHold",
            fields=[
                ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ("gateway", models.CharField(max_length=40)),
                ("reference", models.CharField(max_length=255)),
                ("amount", models.DecimalField(decimal_places=2, max_digits=12)),
                ("currency", models.CharField(max_length=3)),
                ("captured", models.BooleanField(default=False)),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("held", "Held by a completion attempt"),
                            ("recorded", "Recorded as the order's payment"),
                            ("released", "Released (voided)"),
                        ],
                        default="held",
                        max_length=10,
                    ),
                ),
                ("created", models.DateTimeField(auto_now_add=True)),
                ("updated", models.DateTimeField(auto_now=True)),
                (
                    "basket",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="payment_holds", to="baskets.basket"
                    ),
                ),
            ],
            options={
                "ordering": ["-created"],
                "indexes": [
                    models.Index(condition=models.Q(("state", "held")), fields=["created"], name="payment_hold_open")
                ],
                "constraints": [
                    models.UniqueConstraint(fields=("gateway", "reference"), name="payment_hold_reference_unique"),
                    models.CheckConstraint(
                        condition=models.Q(("state__in", ["held", "recorded", "released"])), name="payment_hold_state"
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="PaymentEvent",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("gateway", models.CharField(max_length=40)),
                ("event_id", models.CharField(max_length=255)),
                ("type", models.CharField(max_length=100)),
                (
                    "outcome",
                    models.CharField(
                        choices=[
                            ("applied", "Applied to the payment"),
                            ("stale", "Out of order: the payment was already past it"),
                            ("no_payment", "Names no payment of ours"),
                            ("ignored", "A type we do not handle"),
                        ],
                        max_length=12,
                    ),
                ),
                ("summary", models.JSONField(blank=True, default=dict)),
                ("occurred_at", models.DateTimeField(blank=True, null=True)),
                ("received", models.DateTimeField(auto_now_add=True)),
                (
                    "payment",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="gateway_events",
                        to="baskets.payment",
                    ),
                ),
            ],
            options={
                "ordering": ["-received"],
                "constraints": [models.UniqueConstraint(fields=("gateway", "event_id"), name="payment_event_once")],
            },
        ),
        # Last: PostgreSQL refuses DDL on a table with the pending trigger events these UPDATEs leave.
        migrations.RunPython(rename_statuses, restore_statuses),
    ]
