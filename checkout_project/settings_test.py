"""Settings for the test suite: the real settings with a throwaway key and a fast hasher."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production")
os.environ.setdefault("RECAPTCHA_VERIFIER", "offline")

from checkout_project.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# No network in tests: the offline verifier answers by token prefix.
RECAPTCHA_ENABLED = True
RECAPTCHA_VERIFIER = "checkout_project.api.recaptcha.OfflineRecaptchaVerifier"

# Tests send bursts from one client: throttling is off unless a test turns it on
# (tests/ops/test_throttling.py does, with the pytest-django settings fixture).
THROTTLE_ENABLED = False

# The abandoned feed's replica alias, mirroring the test database: tests/baskets/test_abandoned.py
# routes the feed there (ABANDONED_FEED_DATABASE) to prove its reads leave the primary.
DATABASES.setdefault("replica", {**DATABASES["default"], "TEST": {"MIRROR": "default"}})  # noqa: F405

# Recovery emails' absolute links (empty when DJANGO_DEBUG is off): the test client's host.
SITE_URL = "http://testserver"
