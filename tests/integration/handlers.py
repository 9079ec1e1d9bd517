"""Throwaway SQS handlers for the event source mapping's tests, scripted by message bodies.

A body is a JSON instruction: ``{"do": "ok" | "fail" | "fail_once" | "raise" | "crash" | "sleep" | "respond"}``.
Every invocation is appended to the JSON-lines file named by ``ESM_TEST_JOURNAL``.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any


def _journal(event: dict[str, Any], context: Any, started: float) -> None:
    entry = {
        "pid": os.getpid(),
        "started": started,
        "ended": time.time(),
        "records": event["Records"],
        "context": {
            "aws_request_id": context.aws_request_id,
            "function_name": context.function_name,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "invoked_function_arn": context.invoked_function_arn,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
    }
    with open(os.environ["ESM_TEST_JOURNAL"], "a") as journal:
        journal.write(json.dumps(entry) + "\n")


def scripted(event: dict[str, Any], context: Any) -> Any:
    """Follow each record's instruction; report ``fail`` records as batch item failures."""
    started = time.time()
    failures = []
    response: Any = None
    for record in event["Records"]:
        instruction = json.loads(record["body"])
        action = instruction.get("do", "ok")
        if action == "sleep":
            if "marker" in instruction:  # tells a test this batch is now in flight
                with open(instruction["marker"], "a"):
                    pass
            time.sleep(instruction["seconds"])
        elif action == "raise":
            _journal(event, context, started)
            raise RuntimeError("scripted failure")
        elif action == "crash":
            _journal(event, context, started)
            os._exit(3)
        elif action == "fail" or (action == "fail_once" and record["attributes"]["ApproximateReceiveCount"] == "1"):
            failures.append({"itemIdentifier": record["messageId"]})
        elif action == "respond":
            response = instruction["response"]
    _journal(event, context, started)
    if response is not None:
        return _with_ids(response, [record["messageId"] for record in event["Records"]])
    return {"batchItemFailures": failures}


def _with_ids(response: Any, ids: list[str]) -> Any:
    """Replace "$0", "$1"... in a scripted response with the batch's message ids."""
    if isinstance(response, str) and response.startswith("$") and response[1:].isdigit():
        return ids[int(response[1:])]
    if isinstance(response, list):
        return [_with_ids(item, ids) for item in response]
    if isinstance(response, dict):
        return {key: _with_ids(value, ids) for key, value in response.items()}
    return response


def iam_probe(event: dict[str, Any], context: Any) -> Any:
    """Make the calls each record's body lists, with the function's own credentials, and journal each outcome.

    A body is ``{"calls": [["dynamodb", "get_item", {...}], ["sqs", "send_message", {...}], ...]}``;
    the journal gets one line per record: the credentials' access key id and each call's error code
    (``"ok"`` when it succeeded).
    """
    import boto3
    from botocore.exceptions import ClientError

    del context
    session = boto3.Session()
    for record in event["Records"]:
        try:
            calls = json.loads(record["body"])["calls"]
        except (ValueError, KeyError, TypeError):
            continue  # not a probe (a message a probe sent)
        outcomes = []
        for service, operation, parameters in calls:
            client = session.client(service)
            try:
                getattr(client, operation)(**parameters)
                outcomes.append("ok")
            except ClientError as error:
                outcomes.append(f"{error.response['Error']['Code']}: {error.response['Error']['Message']}")
        entry = {"access_key": session.get_credentials().access_key, "outcomes": outcomes}
        with open(os.environ["ESM_TEST_JOURNAL"], "a") as journal:
            journal.write(json.dumps(entry) + "\n")
    return {"batchItemFailures": []}
