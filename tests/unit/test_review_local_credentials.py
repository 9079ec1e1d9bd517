"""The CLI never signs requests to the local emulator with the user's real AWS credentials."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from orderflow_cli.aws import Target
from orderflow_local.emulator import CREDENTIALS

if TYPE_CHECKING:
    from pathlib import Path

REAL = {
    "AWS_ACCESS_KEY_ID": "AKIAREALUSERKEY",
    "AWS_SECRET_ACCESS_KEY": "real-secret",
    "AWS_SESSION_TOKEN": "real-token",
}


@pytest.fixture
def real_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """The user's keys and session token in the environment, and a profile with other keys."""
    credentials = tmp_path / "credentials"
    credentials.write_text("[work]\naws_access_key_id = AKIAPROFILEKEY\naws_secret_access_key = profile-secret\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    for name, value in REAL.items():
        monkeypatch.setenv(name, value)
    return REAL


def _signing(client: Any) -> Any:
    return client._request_signer._credentials.get_frozen_credentials()


@pytest.mark.parametrize(
    "endpoint", ["http://127.0.0.1:4566", "http://localhost:4566", "http://[::1]:4566", "http://127.0.0.2:8000"]
)
def test_a_local_endpoint_is_signed_with_the_local_key_and_no_session_token(
    real_credentials: dict[str, str], endpoint: str
) -> None:
    target = Target(endpoint)
    for client in (target.sqs(), target.dynamodb(), target.sns(), target.logs(), target.cloudwatch()):
        signing = _signing(client)
        assert signing.access_key == CREDENTIALS["aws_access_key_id"]
        assert signing.secret_key == CREDENTIALS["aws_secret_access_key"]
        assert signing.token is None


def test_a_local_endpoint_ignores_the_profile_even_one_this_machine_lacks(
    real_credentials: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in REAL:
        monkeypatch.delenv(name)
    for profile in ("work", "not-on-this-machine"):
        monkeypatch.setenv("AWS_PROFILE", profile)
        signing = _signing(Target("http://127.0.0.1:4566").sqs())
        assert (signing.access_key, signing.token) == (CREDENTIALS["aws_access_key_id"], None)


def test_real_aws_still_uses_the_users_credentials(real_credentials: dict[str, str]) -> None:
    signing = _signing(Target("aws").sqs())
    assert (signing.access_key, signing.token) == (REAL["AWS_ACCESS_KEY_ID"], REAL["AWS_SESSION_TOKEN"])
