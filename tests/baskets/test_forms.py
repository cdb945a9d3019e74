"""The checkout page's inputs render themselves: the same markup Django's widget templates give."""

from __future__ import annotations

import pytest
from django import forms

from baskets.forms import CustomerDetailsForm, EmailInput, HiddenInput, PromoCodeForm, TextInput

CASES = [
    ("code", None, {}),
    ("code", "", {"required": True}),
    ("email", 'a"<b>&c@example.com', {"id": "id_email", "required": True, "disabled": False}),
    ("phone", 12345, {"type": "tel", "aria-describedby": "id_phone_error", "maxlength": 40}),
]


@pytest.mark.parametrize(("ours", "django"), [
    (TextInput, forms.TextInput), (EmailInput, forms.EmailInput), (HiddenInput, forms.HiddenInput),
])  # fmt: skip
@pytest.mark.parametrize(("name", "value", "attrs"), CASES)
def test_our_inputs_render_as_djangos_templates_do(ours, django, name, value, attrs):
    widget_attrs = {"autocomplete": "off", "spellcheck": "false"}
    assert ours(attrs=widget_attrs).render(name, value, attrs) == django(attrs=widget_attrs).render(name, value, attrs)


def test_the_page_forms_render_with_errors_and_values():
    form = CustomerDetailsForm(data={"email": "not-an-email", "first_name": "Ada <3"})
    assert not form.is_valid()
    html = str(form["email"]) + str(form["first_name"])
    assert 'value="not-an-email"' in html and 'aria-invalid="true"' in html
    assert 'value="Ada &lt;3"' in html
    assert '<input type="text" name="code"' in str(PromoCodeForm()["code"])
