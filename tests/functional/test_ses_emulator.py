"""SES in the emulator, as the Notifier uses it: what was sent is listed at ``/_orderflow/ses/messages``
(behind the loopback guard, as LocalStack's ``/_aws/ses``), and a send signed by a role is authorized
on the sending identity's ARN, as AWS authorizes it, so the Notifier's least-privilege policy works locally.

Both servers: werkzeug in this process, granian in the emulator's own process (`orderflow up`'s).
"""

from __future__ import annotations

import http.client
import json
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from orderflow_local.emulator import ACCOUNT_ID, HOST, REGION, Emulator
from orderflow_local.emulator.app import SES_MESSAGES_PATH
from orderflow_local.ops.mail import fetch_sent
from tests.mail_support import CUSTOMER, SENDER, notification, send_raw

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.timeout(120), pytest.mark.xdist_group("test_ses_emulator")]

DOMAIN = "mail.shop.example"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def _identity_arn(identity: str) -> str:
    return f"arn:aws:ses:{REGION}:{ACCOUNT_ID}:identity/{identity}"


@pytest.fixture(scope="module", params=[False, True], ids=["in-process", "own-process"])
def aws(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    with Emulator(port=0, own_process=request.param, enforce_iam=True) as running:
        sesv2 = running.client("sesv2")
        sesv2.create_email_identity(EmailIdentity=SENDER)
        sesv2.create_email_identity(EmailIdentity=DOMAIN)
        yield running


def _get(aws: Emulator, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    connection = http.client.HTTPConnection(HOST, aws.port, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": f"{HOST}:{aws.port}", **(headers or {})})
        answer = connection.getresponse()
        return answer.status, answer.read().decode()
    finally:
        connection.close()


def _listed(aws: Emulator) -> list[dict[str, Any]]:
    status, body = _get(aws, SES_MESSAGES_PATH)
    assert status == 200, body
    messages: list[dict[str, Any]] = json.loads(body)["messages"]
    return messages


def _role(aws: Emulator, name: str, resources: list[str]) -> Any:
    """A role allowed to send from ``resources`` only (as the Notifier's), its session's SES v2 client."""
    iam = aws.iam()
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    statement = {"Effect": "Allow", "Action": ["ses:SendEmail", "ses:SendRawEmail"], "Resource": resources}
    document = {"Version": "2012-10-17", "Statement": [statement]}
    iam.put_role_policy(RoleName=name, PolicyName="send", PolicyDocument=json.dumps(document))
    return aws.assume_role(arn, name)


def test_what_ses_sent_is_listed_oldest_first_raw_and_simple(aws: Emulator) -> None:
    before = len(_listed(aws))
    sesv2 = aws.client("sesv2")
    raw = notification(event_id="evt-list", order_id="ORD-list", subject="Grüße <script>")
    raw_id = send_raw(sesv2, raw)
    simple_id = sesv2.send_email(
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": [CUSTOMER]},
        Content={"Simple": {"Subject": {"Data": "Grüße"}, "Body": {"Text": {"Data": "hallo ✓"}}}},
    )["MessageId"]
    first, second = _listed(aws)[before:]
    assert first["id"] == raw_id
    assert first["source"] == SENDER
    assert first["raw"] == raw.decode()
    assert second == {
        "id": simple_id,
        "source": SENDER,
        "destinations": [CUSTOMER],
        "raw": None,
        "subject": "Grüße",
        "body": "hallo ✓",
    }
    # a reader that has the first N asks for the rest (the console, every 2 s); a bad start is 0
    status, body = _get(aws, f"{SES_MESSAGES_PATH}?start={before + 1}")
    assert status == 200
    assert [message["id"] for message in json.loads(body)["messages"]] == [simple_id]
    assert [message["id"] for message in fetch_sent(f"http://{HOST}:{aws.port}", start=before)] == [raw_id, simple_id]
    status, body = _get(aws, f"{SES_MESSAGES_PATH}?start=-3")
    assert len(json.loads(body)["messages"]) == before + 2


def test_the_list_stays_behind_the_loopback_guard(aws: Emulator) -> None:
    status, body = _get(aws, SES_MESSAGES_PATH, {"Origin": "https://evil.example"})
    assert status == 403
    assert "a web page at https://evil.example may not call the local AWS endpoint" in body
    status, body = _get(aws, SES_MESSAGES_PATH, {"Host": f"evil.example:{aws.port}"})
    assert status == 403
    assert "is not a loopback name" in body
    status, _ = _get(aws, SES_MESSAGES_PATH, {"Sec-Fetch-Site": "cross-site"})
    assert status == 403


def test_a_role_sends_from_the_identity_its_policy_names(aws: Emulator, request: pytest.FixtureRequest) -> None:
    suffix = request.node.callspec.id
    credentials = _role(aws, f"notifier-{suffix}", [_identity_arn(SENDER)])
    sesv2 = aws.client("sesv2", credentials)
    message_id = send_raw(sesv2, notification(event_id="evt-role", order_id="ORD-role"))
    assert message_id in [entry["id"] for entry in _listed(aws)]
    # SES v1's SendRawEmail is authorized on the identity too (its From header, without a Source)
    aws.client("ses", credentials).send_raw_email(RawMessage={"Data": notification(event_id="e", order_id="o")})


def test_a_role_may_not_send_from_another_identity(aws: Emulator, request: pytest.FixtureRequest) -> None:
    suffix = request.node.callspec.id
    credentials = _role(aws, f"other-{suffix}", [_identity_arn("someone@else.example")])
    sesv2 = aws.client("sesv2", credentials)
    before = len(_listed(aws))
    with pytest.raises(ClientError) as refused:
        send_raw(sesv2, notification(event_id="evt-denied", order_id="ORD-denied"))
    error = refused.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert f"is not authorized to perform: ses:SendEmail on resource: {_identity_arn(SENDER)}" in error["Message"]
    assert len(_listed(aws)) == before  # nothing sent


def test_an_address_without_an_identity_of_its_own_is_authorized_on_its_domains(
    aws: Emulator, request: pytest.FixtureRequest
) -> None:
    suffix = request.node.callspec.id
    credentials = _role(aws, f"domain-{suffix}", [_identity_arn(DOMAIN)])
    sender = f"noreply@{DOMAIN}"
    send_raw(
        aws.client("sesv2", credentials),
        notification(event_id="evt-domain", order_id="ORD-domain", sender=sender),
        sender=sender,
    )
    with pytest.raises(ClientError, match=f"on resource: {_identity_arn(SENDER)}"):
        send_raw(aws.client("sesv2", credentials), notification(event_id="evt-address", order_id="ORD-address"))
