"""The hosted checkout page's forms: the promo code and the customer's details (API.md §5).

Shape and format only; whether a code applies or a basket can complete is the services' to say.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.forms.renderers import TemplatesSetting
from django.forms.widgets import Input
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django_recaptcha.widgets import ReCaptchaV2Checkbox

from checkout_project.api.errors import UpstreamUnavailable
from checkout_project.api.recaptcha import OfflineRecaptchaVerifier, RecaptchaInvalid, get_verifier

# What the offline verifier (development, tests) accepts: the page fills it in, the server checks it.
OFFLINE_RECAPTCHA_TOKEN = "pass-offline-checkout-page"


class RenderedDirectly(Input):
    """An <input> widget that writes its markup itself, the same markup as Django's
    `django/forms/widgets/input.html` and `attrs.html`, instead of rendering those templates: the
    checkout page renders seven inputs on every visit, and through the template engine they cost
    more than the rest of the page's logic."""

    def render(self, name, value, attrs=None, renderer=None):
        widget = self.get_context(name, value, attrs)["widget"]
        html: list[str] = [format_html('<input type="{}" name="{}"', widget["type"], widget["name"])]
        if widget["value"] is not None:
            html.append(format_html(' value="{}"', widget["value"]))
        for attr, attr_value in widget["attrs"].items():
            if attr_value is True:
                html.append(format_html(" {}", attr))
            elif attr_value is not False:
                html.append(format_html(' {}="{}"', attr, attr_value))
        html.append(">")
        return mark_safe("".join(html))  # every part above went through format_html


class TextInput(RenderedDirectly, forms.TextInput):
    pass


class EmailInput(RenderedDirectly, forms.EmailInput):
    pass


class HiddenInput(RenderedDirectly, forms.HiddenInput):
    pass


class PromoCodeForm(forms.Form):
    code = forms.CharField(
        label="Promo code",
        max_length=64,
        error_messages={"required": "Enter a promo code.", "max_length": "A promo code has at most 64 characters."},
        widget=TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}),
    )


class CheckoutRecaptchaWidget(ReCaptchaV2Checkbox):
    """django-recaptcha's checkbox without its inline script, which the page's CSP refuses."""

    template_name = "checkout/widgets/recaptcha_checkbox.html"


def recaptcha_on_page() -> str | None:
    """ "google" (Google's widget), "offline" (a token the offline verifier passes) or None (off)."""
    if not settings.RECAPTCHA_ENABLED:
        return None
    verifier = get_verifier()
    return "offline" if isinstance(verifier, OfflineRecaptchaVerifier) else "google"


class CustomerDetailsForm(forms.Form):
    """The customer's details, and the reCAPTCHA token when reCAPTCHA is on (verified in clean)."""

    # Project templates first, so the reCAPTCHA widget's template (templates/checkout/widgets/) is found.
    default_renderer = TemplatesSetting

    email = forms.EmailField(
        label="Email address",
        max_length=254,
        error_messages={
            "required": "Enter your email address.",
            "invalid": "Enter an email address like name@example.com.",
        },
        widget=EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
    )
    first_name = forms.CharField(
        label="First name",
        max_length=150,
        error_messages={"required": "Enter your first name."},
        widget=TextInput(attrs={"autocomplete": "given-name"}),
    )
    last_name = forms.CharField(
        label="Last name",
        max_length=150,
        error_messages={"required": "Enter your last name."},
        widget=TextInput(attrs={"autocomplete": "family-name"}),
    )
    company_name = forms.CharField(
        label="Company (optional)",
        max_length=255,
        required=False,
        widget=TextInput(attrs={"autocomplete": "organization"}),
    )
    phone = forms.RegexField(
        label="Phone (optional)",
        max_length=50,
        required=False,
        regex=r"^\+?[0-9][0-9 ()\-]{4,}$",
        error_messages={"invalid": "Enter a phone number using digits, spaces and an optional leading +."},
        widget=TextInput(attrs={"autocomplete": "tel", "type": "tel"}),
    )

    def __init__(self, *args, remote_ip: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.remote_ip = remote_ip
        self.recaptcha_mode = recaptcha_on_page()
        if self.recaptcha_mode is not None:
            widget = (
                CheckoutRecaptchaWidget(attrs={"data-sitekey": settings.RECAPTCHA_PUBLIC_KEY})
                if self.recaptcha_mode == "google"
                else HiddenInput()
            )
            self.fields["recaptcha"] = forms.CharField(
                label="Confirm you are not a robot",
                widget=widget,
                initial=OFFLINE_RECAPTCHA_TOKEN if self.recaptcha_mode == "offline" else None,
                max_length=4096,
                error_messages={"required": "Please confirm you are not a robot."},
            )

    def clean_recaptcha(self) -> str:
        token = self.cleaned_data["recaptcha"]
        try:
            get_verifier().verify(token, self.remote_ip)
        except RecaptchaInvalid:
            raise forms.ValidationError("We could not confirm you are not a robot. Please try again.") from None
        except UpstreamUnavailable:
            raise forms.ValidationError(
                "We could not check the reCAPTCHA just now. Please try again in a moment."
            ) from None
        return token

    def customer_details(self) -> dict[str, str]:
        """The details on the wire's names, as baskets.services.basket_complete takes them."""
        data = self.cleaned_data
        return {
            "email": data["email"],
            "firstName": data["first_name"],
            "lastName": data["last_name"],
            "companyName": data.get("company_name", ""),
            "phone": data.get("phone", ""),
        }


def details_initial(basket) -> dict[str, str]:
    return {
        "email": basket.email,
        "first_name": basket.first_name,
        "last_name": basket.last_name,
        "company_name": basket.company_name,
        "phone": basket.phone,
    }


class CardPaymentForm(forms.Form):
    """What the page's script adds to the order form when the gateway takes cards (Stripe): the
    PaymentMethod Stripe.js made from the card, or, after 3-D Secure, the PaymentIntent it
    confirmed. Ids only; whether they pay for this basket is the gateway's to check."""

    payment_method_id = forms.RegexField(regex=r"^pm_[A-Za-z0-9_]{1,250}$", required=False, widget=HiddenInput())
    payment_intent_id = forms.RegexField(regex=r"^pi_[A-Za-z0-9_]{1,250}$", required=False, widget=HiddenInput())

    def payment(self) -> dict[str, str] | None:
        """The order's `payment` as baskets.services.basket_complete takes it (None: no card sent)."""
        data = self.cleaned_data
        if data.get("payment_intent_id"):
            return {"paymentIntentId": data["payment_intent_id"]}
        if data.get("payment_method_id"):
            return {"paymentMethodId": data["payment_method_id"]}
        return None
