"""Publishing a service's events to an EventBridge bus with PutEvents."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from orderflow.domain.payments.errors import EventPublishError

if TYPE_CHECKING:
    from orderflow.domain.payments.models import PaymentEvent

#: PutEvents takes at most 10 entries per request
#: (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html).
MAX_ENTRIES = 10


class EventBridgePublisher:
    """PutEvents on ``bus_name`` with ``source``. PutEvents can accept some entries and refuse others
    (``FailedEntryCount``): any refusal raises, and the whole call is retried by the record's retry;
    consumers drop the repeats by ``eventId``."""

    def __init__(self, bus_name: str, *, source: str, client: Any) -> None:
        self._bus_name = bus_name
        self._source = source
        self._client = client

    def publish(self, events: list[PaymentEvent]) -> None:
        for start in range(0, len(events), MAX_ENTRIES):
            entries = [
                {
                    "EventBusName": self._bus_name,
                    "Source": self._source,
                    "DetailType": event.detail_type,
                    "Detail": json.dumps(event.detail),
                }
                for event in events[start : start + MAX_ENTRIES]
            ]
            try:
                answer = self._client.put_events(Entries=entries)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "Unknown")
                raise EventPublishError(f"EventBridge PutEvents failed: {code}") from exc
            except BotoCoreError as exc:
                raise EventPublishError(f"EventBridge PutEvents failed: {type(exc).__name__}") from exc
            if answer.get("FailedEntryCount"):
                failed = [entry for entry in answer.get("Entries", []) if entry.get("ErrorCode")]
                reasons = sorted({f"{entry['ErrorCode']}: {entry.get('ErrorMessage', '')}" for entry in failed})
                raise EventPublishError(f"EventBridge refused {len(failed)} of {len(entries)} events: {reasons}")
