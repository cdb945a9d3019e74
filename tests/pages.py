"""What the tests of the hosted checkout pages post."""

# The checkout page's details form, filled in as a customer would; the offline reCAPTCHA
# verifier (settings_test) passes tokens starting with "pass".
CHECKOUT_DETAILS = {
    "email": "grace@example.com",
    "first_name": "Grace",
    "last_name": "Hopper",
    "company_name": "",
    "phone": "+44 20 7946 0000",
    "recaptcha": "pass-offline-checkout-page",
}
