"""SPIn URLs in the registry: local and cloud modes, and the auth key kept out of every URL."""

from __future__ import annotations

import pytest

from drivers import TerminalUrlError, open_terminal, parse_url
from drivers.registry import needs_authkey
from drivers.spin.terminal import SpinTerminal


def test_local_and_cloud_modes() -> None:
    kind, cfg = parse_url("spin+http://192.168.1.60:9000?tpn=Z11AB0123456")
    assert kind == "spin"
    local = cfg["options"]
    assert (local.base_url, local.tpn, local.cloud, local.timeout) == (
        "http://192.168.1.60:9000",
        "Z11AB0123456",
        False,
        130.0,
    )
    _, cfg = parse_url("spin+https://test.spinpos.net/spin/?tpn=Z1&proxy_timeout=60")
    cloud = cfg["options"]
    assert (cloud.base_url, cloud.cloud, cloud.proxy_timeout, cloud.timeout) == (
        "https://test.spinpos.net/spin",
        True,
        60,
        70.0,
    )
    assert needs_authkey("SPIN+HTTPS://x/?tpn=1") and not needs_authkey("poslink+tcp://h:1")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("spin+http://10.0.0.5:9000?tpn=Z1&authkey=SECRET123", "secret"),
        ("spin+http://10.0.0.5:9000?tpn=Z1&Authkey=SECRET123", "secret"),
        ("spin+http://user:SECRET123@10.0.0.5:9000?tpn=Z1", "secret"),
        ("spin+http://10.0.0.5:9000", "TPN"),
        ("spin+http://10.0.0.5?tpn=Z1", "port"),
        ("spin+http://10.0.0.5:9000/x?tpn=Z1", "path"),
        ("spin+http://10.0.0.5:9000?tpn=Z1&payment_type=Cash", "payment_type"),
        ("spin+https://h/spin?tpn=Z1&proxy_timeout=9999", "proxy_timeout"),
        ("spin+https://h/spin?tpn=Z1&colour=red", "unknown option"),
    ],
)
def test_bad_urls_get_a_sentence_and_never_echo_the_key(url: str, words: str) -> None:
    with pytest.raises(TerminalUrlError) as info:
        parse_url(url)
    assert words.lower() in str(info.value).lower()
    assert "SECRET123" not in str(info.value)


def test_the_driver_takes_the_key_beside_the_url() -> None:
    url = "spin+http://127.0.0.1:9000?tpn=Z11AB0123456"
    with pytest.raises(TerminalUrlError, match="auth key"):
        open_terminal(url)
    term = open_terminal(url, authkey="K3yK3yK3yK")
    assert isinstance(term, SpinTerminal)
    assert not term.capabilities.card_on_file and not term.capabilities.keyed_ach
    assert "K3yK3y" not in repr(term.options)


def test_the_settings_file_refuses_the_key_and_never_echoes_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from posplus_tui import config

    file = tmp_path / "c.toml"
    for text in (
        '[posplus]\nterminal_authkey = "SECRET123"\n',
        '[posplus]\nterminal_url = "spin+http://10.0.0.5:9000?tpn=Z1&authkey=SECRET123"\n',
    ):
        file.write_text(text)
        with pytest.raises(config.ConfigError) as info:
            config.load(file)
        assert "SECRET123" not in str(info.value)
        assert "secret" in str(info.value)
