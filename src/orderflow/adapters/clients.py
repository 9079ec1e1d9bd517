"""boto3 clients as the order processor wants them.

No ``endpoint_url`` is passed: boto3 reads ``AWS_ENDPOINT_URL`` (and the per-service
``AWS_ENDPOINT_URL_DYNAMODB`` / ``AWS_ENDPOINT_URL_SQS``) itself, so the same code talks
to AWS in Lambda and to the local emulator on a laptop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

#: Short timeouts: a batch has 30 s; a hung connection must fail fast and be retried by SQS.
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3},
    connect_timeout=2,
    read_timeout=5,
    tcp_keepalive=True,
)


def dynamodb_client(session: boto3.Session | None = None) -> DynamoDBClient:
    return (session or boto3.Session()).client("dynamodb", config=CLIENT_CONFIG)


def sqs_client(session: boto3.Session | None = None) -> SQSClient:
    return (session or boto3.Session()).client("sqs", config=CLIENT_CONFIG)
