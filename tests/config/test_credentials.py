"""API keys: environment first, owner-only secrets file, never shown."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tradebot_tui.config.credentials import (
    KEY_ENV,
    SECRET_ENV,
    Secret,
    SecretsError,
    load_credentials,
)

KEY, SECRET = "AKIAsecretkey1234567890", "shhh-very-secret-0987654321"


def write_secrets(path: Path, mode: int) -> Path:
    path.write_text(f'[binance]\napi_key = "{KEY}"\napi_secret = "{SECRET}"\n')
    os.chmod(path, mode)
    return path


def test_environment_wins(tmp_path: Path) -> None:
    creds = load_credentials("binance", tmp_path / "none", {KEY_ENV: KEY, SECRET_ENV: SECRET})
    assert creds is not None and creds.source == "environment"
    assert creds.api_key.reveal() == KEY


def test_half_an_environment_pair_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SecretsError, match="set both"):
        load_credentials("binance", tmp_path / "none", {KEY_ENV: KEY})


def test_owner_only_file_is_used(tmp_path: Path) -> None:
    path = write_secrets(tmp_path / "secrets.toml", 0o600)
    creds = load_credentials("binance", path, {})
    assert creds is not None and creds.api_secret.reveal() == SECRET
    assert load_credentials("kraken", path, {}) is None


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = write_secrets(tmp_path / "secrets.toml", mode)
    with pytest.raises(SecretsError, match="chmod 600") as info:
        load_credentials("binance", path, {})
    assert KEY not in str(info.value) and SECRET not in str(info.value)


def test_malformed_file_error_shows_no_secret(tmp_path: Path) -> None:
    path = tmp_path / "secrets.toml"
    path.write_text(f'[binance]\napi_key = "{KEY}\n')  # unterminated string
    os.chmod(path, 0o600)
    with pytest.raises(SecretsError) as info:
        load_credentials("binance", path, {})
    assert KEY not in str(info.value)


def test_secret_never_shows_itself() -> None:
    s = Secret(SECRET)
    for text in (repr(s), str(s), f"{s}", repr([s]), repr({"k": s})):
        assert SECRET not in text
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(s)
