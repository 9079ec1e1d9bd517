"""The backoff schedule and the queue URL it addresses."""

from __future__ import annotations

import pytest

from orderflow.adapters.retries import queue_url_from_arn
from orderflow.composition import ConfigurationError, Settings
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


def test_the_backoff_can_be_configured_and_a_bad_setting_says_what_it_wants() -> None:
    env = {"TABLE_NAME": "Orders", "DLQ_URL": "http://127.0.0.1:4566/123456789012/DLQ"}
    assert Settings.from_env(env).retry_delays == (2, 8, 30)
    delays = Settings.from_env({**env, "RETRY_DELAYS": "1, 2,3"}).retry_delays
    assert delays == (1, 2, 3)
    assert [retry_delay(count, delays) for count in (1, 2, 3, 4)] == [1, 2, 3, 3]
    for bad in ("1,,2", "-1", "1.5", "fast", "43201"):
        with pytest.raises(ConfigurationError, match=r"RETRY_DELAYS must be comma-separated whole seconds"):
            Settings.from_env({**env, "RETRY_DELAYS": bad})
