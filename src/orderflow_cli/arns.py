"""Short names for the ARNs `up`'s banner and `orderflow status` show: a line says ``bus OrderDomainEvents``
where the ARN would take a whole terminal row."""

from __future__ import annotations


def resource_name(arn: str) -> str:
    """The resource's own name, or ``arn`` as it is when it is not an ARN of a kind known here.

    ARN formats: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html
    """
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return arn
    service, resource = parts[2], parts[5]
    if service in {"sqs", "sns"}:  # arn:aws:sqs:REGION:ACCOUNT:NAME
        return resource
    if service == "dynamodb" and resource.startswith("table/"):  # table/NAME[/stream/LABEL]
        return resource.split("/")[1]
    if service == "lambda" and resource.startswith("function:"):  # function:NAME[:QUALIFIER]
        return resource.split(":")[1]
    if "/" in resource:  # event-bus/NAME, pipe/NAME, role/NAME, rule/BUS/NAME
        return resource.rsplit("/", 1)[1]
    if ":" in resource:  # stateMachine:NAME
        return resource.split(":")[1]
    return arn


def describe_arn(arn: str) -> str:
    """What ``arn`` names, in a few words: ``queue OrderOutboxDLQ``, ``the Orders table's stream``."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return arn
    service, resource, name = parts[2], parts[5], resource_name(arn)
    if name == arn:
        return arn
    if service == "dynamodb":
        return f"the {name} table's stream" if "/stream/" in resource else f"table {name}"
    kinds = {"sqs": "queue", "sns": "topic", "lambda": "function", "states": "state machine", "pipes": "pipe"}
    if service == "events":
        kind = "bus" if resource.startswith("event-bus/") else resource.split("/", 1)[0]
        return f"{kind} {name}"
    return f"{kinds.get(service, service)} {name}"
