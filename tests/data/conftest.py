"""Data tests never write to the user's decode cache."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _private_decode_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SEGWISE_CACHE", str(tmp_path_factory.mktemp("decode-cache")))
