import logging
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from posplus_tui import config
from posplus_tui.logs import setup_logging
from posplus_tui.redaction import redact
from posplus_tui.secrets import NoKeyringAvailable, SecretStore


def test_defaults_without_a_file(isolated_env: Path) -> None:
    settings = config.load()
    assert settings.environment == "production"
    assert settings.database_url.startswith("sqlite:///")
    assert str(isolated_env) in settings.database_url
    assert settings.missing_for_run() == [
        "tenant_id",
        "client_id",
        "reconciliation_username",
        "terminal_url",
    ]


def test_round_trip_and_env_override(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    s = config.updated(config.Settings(), tenant_id="123", station_name="Front desk")
    config.save(s, file)
    assert config.load(file).tenant_id == "123"
    got = config.load(file, environ={"POSPLUS_STATION_NAME": "Back office"})
    assert got.station_name == "Back office"


def test_errors_name_key_file_and_form(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_text('[posplus]\ntenant_id = "abc"\n')
    with pytest.raises(config.ConfigError) as err:
        config.load(file)
    assert (
        "tenant_id" in str(err.value) and str(file) in str(err.value) and "digits" in str(err.value)
    )
    file.write_text('[posplus]\nclient_secret = "x"\n')
    with pytest.raises(config.ConfigError, match="is a secret"):
        config.load(file)
    file.write_text("[posplus\n")
    with pytest.raises(config.ConfigError, match="not valid TOML"):
        config.load(file)


def test_secrets_round_trip_in_memory_keyring() -> None:
    store = SecretStore(tenant="42")
    store.set("client_secret", "s3cr3t-value")
    assert store.get("client_secret") == "s3cr3t-value"
    assert store.status()["client_secret"] == "••••"
    assert store.status()["app_key"] == "not set"


def test_env_secret_wins() -> None:
    store = SecretStore(environ={"POSPLUS_APP_KEY": "ak-from-env"})
    assert store.get("app_key") == "ak-from-env"
    assert "from environment" in store.status()["app_key"]


def test_no_keyring_is_explained() -> None:
    keyring.set_keyring(fail.Keyring())
    store = SecretStore()
    assert not store.available()
    with pytest.raises(NoKeyringAvailable, match="POSPLUS_SECRETS_PASSWORD"):
        store.set("client_secret", "x1234")


def test_redaction() -> None:
    text = redact(
        "card 4111 1111 1111 1111 ok; Bearer abc.def.ghi; client_secret=hunter22; pin: 1234"
    )
    assert "4111 1111 1111 1111" not in text and "1111" in text
    assert "abc.def.ghi" not in text
    assert "hunter22" not in text
    assert "pin: 1234" not in text
    assert redact("invoice 10234 for $12.00") == "invoice 10234 for $12.00"


def test_log_file_is_redacted(tmp_path: Path) -> None:
    store = SecretStore()
    store.set("app_key", "ak-very-secret-9")
    file = setup_logging(directory=tmp_path)
    log = logging.getLogger("posplus.test")
    log.info("posting with key %s", "ak-very-secret-9")
    log.info("pan 5500005555555559 seen")
    try:
        raise ValueError("token=abcdef123456")
    except ValueError:
        log.exception("boom")
    for handler in logging.getLogger().handlers:
        handler.flush()
    content = file.read_text()
    assert "ak-very-secret-9" not in content
    assert "5500005555555559" not in content
    assert "abcdef123456" not in content
    assert "••••5559" in content


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('smtp_security = "ssl"', "none, starttls or tls"),
        ('smtp_username = "bill ing"', "no spaces"),
        ('twilio_api_url = "api.twilio.com"', "https://api.twilio.com"),
        ('smtp_password = "x"', "is a secret"),
    ],
)
def test_smtp_and_twilio_settings_are_checked(tmp_path: Path, line: str, words: str) -> None:
    file = tmp_path / "c.toml"
    file.write_text(f"[posplus]\n{line}\n")
    with pytest.raises(config.ConfigError, match=words):
        config.load(file, environ={})
    file.write_text(
        '[posplus]\nsmtp_security = "STARTTLS"\nsmtp_username = "billing@example.com"\n'
        'twilio_api_url = "http://127.0.0.1:8088"\n'
    )
    loaded = config.load(file, environ={})
    assert loaded.smtp_username == "billing@example.com" and loaded.smtp_security == "STARTTLS"


def test_smtp_password_from_the_environment() -> None:
    store = SecretStore(environ={"POSPLUS_SMTP_PASSWORD": "relay-pass"})
    assert store.get("smtp_password") == "relay-pass"
