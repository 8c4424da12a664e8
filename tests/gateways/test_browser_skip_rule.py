"""The browser tests' rule: skip visibly without Chromium on a developer's machine, fail in CI."""

from __future__ import annotations

import pytest

from tests import browser


def test_without_chromium_a_developer_skips_and_ci_fails(monkeypatch):
    monkeypatch.setattr(browser.Path, "exists", lambda self: False)
    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        browser.chromium_path()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the browser tests"):
        browser.chromium_path()
