"""Pytest fixtures that start a fresh fake provider per test, so recorded state never leaks."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from .telegram_api import FakeTelegram
from .twilio_api import FakeTwilio

logger = logging.getLogger(__name__)


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    """A started FakeTelegram; point PTB at ``fake_telegram.base_url``."""
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    """A started FakeTwilio; set ``client.api.base_url = fake_twilio.base_url``."""
    with FakeTwilio() as fake:
        yield fake
