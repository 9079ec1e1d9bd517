"""How clients reach the embedded AWS: its address, region, account, credentials and client config."""

from __future__ import annotations

from dataclasses import dataclass

import boto3
from botocore.config import Config

HOST = "127.0.0.1"
DEFAULT_PORT = 4566
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
#: The emulator accepts any credentials; these keep boto3 from searching for real ones.
CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


def client_config() -> Config:
    return Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=5, read_timeout=30)


@dataclass(frozen=True)
class RoleCredentials:
    """Temporary credentials of an assumed role, as Lambda gives them to a function."""

    role_arn: str
    access_key_id: str
    secret_access_key: str
    session_token: str

    def environment(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }

    def session(self) -> boto3.Session:
        return boto3.Session(
            region_name=REGION,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            aws_session_token=self.session_token,
        )
