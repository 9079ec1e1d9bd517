"""The backoff schedule and the queue URL it addresses."""

from __future__ import annotations

import pytest

from orderflow.adapters.retries import queue_url_from_arn
from orderflow.domain.retry import retry_delay


@pytest.mark.parametrize(("receive_count", "seconds"), [(0, 2), (1, 2), (2, 8), (3, 30), (7, 30)])
def test_backoff_grows_with_each_receive_and_is_capped(receive_count: int, seconds: int) -> None:
    assert retry_delay(receive_count) == seconds


def test_queue_url_from_arn_on_aws_and_locally() -> None:
    arn = "arn:aws:sqs:eu-west-1:111122223333:OrderCreatedQueue"
    assert queue_url_from_arn(arn, "https://sqs.eu-west-1.amazonaws.com") == (
        "https://sqs.eu-west-1.amazonaws.com/111122223333/OrderCreatedQueue"
    )
    assert queue_url_from_arn(arn, "http://127.0.0.1:4566/") == "http://127.0.0.1:4566/111122223333/OrderCreatedQueue"
    with pytest.raises(ValueError, match="not an SQS queue ARN"):
        queue_url_from_arn("arn:aws:sns:eu-west-1:1:topic", "https://x")
