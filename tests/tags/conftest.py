import pytest

from api.config import get_settings


@pytest.fixture(autouse=True)
def local_webhook_receivers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tag changes are checked as webhook deliveries to a loopback receiver, which only a listed host may be."""
    monkeypatch.setenv("HEARKEN_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1")
    get_settings.cache_clear()
