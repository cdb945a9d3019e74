"""A real Stripe-compatible server for the payment tests: localstripe on a free local port.

`localstripe` (a dev dependency) is a stateful fake of Stripe's API. The session fixture
`stripe_server` (tests/conftest.py) starts it from the virtualenv's bin directory (beside
sys.executable) with `--from-scratch`, waits until it answers, and stops it by its PID at the end
of the session. Only tests that ask for it start it.

What localstripe does and does not do (1.15.10), as the tests rely on it:
- PaymentIntents with capture_method=manual: authorise (confirm), capture, cancel; refunds.
- Test cards: 4242424242424242 succeeds, 4000000000000341 is declined when charged,
  4000000000000002 when attached (a SetupIntent), 4000002500003155 needs 3-D Secure
  (`requires_action`; its fake Stripe.js, or POST /v1/payment_intents/<id>/_authenticate,
  completes it).
- It ignores Stripe idempotency keys (a replay creates a new PaymentIntent): our own records must
  prevent double charges, and the tests prove they do.
- It sends no payment_intent webhooks: the tests sign payloads with the webhook secret
  (`signed_webhook`), as Stripe does (`t=<time>,v1=HMAC-SHA256(secret, "<time>.<payload>")`).
- It refuses parameters it does not know (top-level `setup_future_usage`, `description`), accepts
  over-refunds (our records refuse them), and does not implement listing customers by e-mail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

SECRET_KEY = "sk_test_localstripe"
PUBLISHABLE_KEY = "pk_test_localstripe"
WEBHOOK_SECRET = "whsec_test_localstripe"

# Test cards (number → what localstripe does with it).
CARD_OK = "4242424242424242"
CARD_DECLINED_ON_CHARGE = "4000000000000341"
CARD_DECLINED_ON_ATTACH = "4000000000000002"
CARD_NEEDS_3DS = "4000002500003155"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def localstripe_executable() -> Path:
    return Path(sys.executable).parent / "localstripe"


@contextmanager
def localstripe(timeout: float = 30) -> Iterator[str]:
    """A localstripe process on a free port; its base URL. Stopped (by PID) when the block ends."""
    executable = localstripe_executable()
    if not executable.exists():
        raise RuntimeError(f"localstripe is not installed beside {sys.executable} (pip install '.[dev]')")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [str(executable), "--port", str(port), "--from-scratch"], stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_until_answering(base, process, log, timeout)
            yield base
        finally:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.kill(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)


def wait_until_answering(base: str, process: subprocess.Popen, log: IO[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{base}/js.stripe.com/v3/", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            raise RuntimeError(f"localstripe did not start at {base}: {log.read().decode()[-2000:]}")
        time.sleep(0.1)


def sign(payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A Stripe-Signature header for `payload`, as Stripe computes it."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def event_payload(event_id: str, kind: str, event_object: dict[str, Any], created: int | None = None) -> str:
    """A Stripe event as Stripe would post it."""
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": kind,
            "created": int(time.time()) if created is None else created,
            "livemode": False,
            "api_version": "2024-06-20",
            "data": {"object": event_object},
        }
    )
