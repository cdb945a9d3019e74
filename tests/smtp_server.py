"""A real SMTP server for the email tests: aiosmtpd in a thread, on a free local port.

    with smtp_server() as server:
        settings.MAILERS = smtp_mailers(server.port)
        ...  # Django's SMTP backend delivers to it
        [message] = server.messages  # email.message.EmailMessage, as received

`server.refuse(n)` makes it answer the next n messages with 451 (a transient failure), as a mail
server under load would. It is stopped when the block ends.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from django.core.mail.backends.smtp import EmailBackend as SmtpEmailBackend
from django.db import connection


@dataclass
class CapturingHandler:
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    refusals_left: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refusals_left > 0:
            self.refusals_left -= 1
            return "451 4.3.0 Try again later"
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: CapturingHandler

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages

    def refuse(self, count: int) -> None:
        self.handler.refusals_left = count


def smtp_mailers(port: int, *, backend: str = "django.core.mail.backends.smtp.EmailBackend") -> dict[str, Any]:
    """settings.MAILERS with Django's SMTP backend (or `backend`) sending to 127.0.0.1:`port`."""
    return {"default": {"BACKEND": backend, "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 5}}}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def smtp_server() -> Iterator[SmtpServer]:
    handler = CapturingHandler()
    host, port = "127.0.0.1", free_port()
    controller = Controller(handler, hostname=host, port=port)
    controller.start()  # returns once the server answers
    try:
        yield SmtpServer(host=host, port=port, handler=handler)
    finally:
        controller.stop()


class TransactionOpen(AssertionError):
    """An email was sent while a database transaction was open."""


class AssertingSmtpBackend(SmtpEmailBackend):
    """Django's SMTP backend that fails the test when it sends inside a database transaction
    (EMAIL_BACKEND = "tests.smtp_server.AssertingSmtpBackend")."""

    def send_messages(self, email_messages):  # type: ignore[no-untyped-def]
        if connection.in_atomic_block:
            raise TransactionOpen("an email was sent inside a database transaction")
        return super().send_messages(email_messages)
