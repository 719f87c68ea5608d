"""Channel fixtures: loopback provider fakes started per test and always stopped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakes.sms_gateway import FakeSmsGateway
from fakes.smtp import SmtpServer


@pytest.fixture
def sms_gateway() -> Iterator[FakeSmsGateway]:
    gateway = FakeSmsGateway().start()
    yield gateway
    gateway.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()
