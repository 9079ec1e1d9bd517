"""The template's SES e-mail identities (the Notifier's sender): read into the StackSpec, no longer
skipped, created in the emulator by deploy() (moto in-process) so the stack's functions can send from
them, and resolved where the template names them (the From address, an IAM policy's identity ARN)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from orderflow_local.emulator import ACCOUNT_ID, REGION
from orderflow_local.stack.deploy import deploy
from orderflow_local.stack.template import TemplateError, load_template, skipped_summary

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

SENDER = "orders@shop.example"
#: The identity's ARN as the CDK writes it (EmailIdentity.emailIdentityArn: Stack.formatArn of its Ref).
IDENTITY_ARN = {
    "Fn::Join": [
        "",
        [
            "arn:",
            {"Ref": "AWS::Partition"},
            ":ses:",
            {"Ref": "AWS::Region"},
            ":",
            {"Ref": "AWS::AccountId"},
            ":identity/",
            {"Ref": "Sender"},
        ],
    ]
}
RESOURCES: dict[str, Any] = {
    "Sender": {"Type": "AWS::SES::EmailIdentity", "Properties": {"EmailIdentity": SENDER}},
    "Domain": {
        "Type": "AWS::SES::EmailIdentity",
        "Properties": {
            "EmailIdentity": "mail.shop.example",
            "DkimSigningAttributes": {"NextSigningKeyLength": "RSA_2048_BIT"},
        },
    },
    "Notifications": {
        "Type": "AWS::DynamoDB::Table",
        "Properties": {
            "TableName": "Notifications",
            "KeySchema": [{"AttributeName": "orderId", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "orderId", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        },
    },
    "NotifierRole": {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            },
            "Policies": [
                {
                    "PolicyName": "send",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["ses:SendEmail", "ses:SendRawEmail"],
                                "Resource": IDENTITY_ARN,
                            }
                        ],
                    },
                }
            ],
        },
    },
    "Notifier": {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "FunctionName": "Notifier",
            "Handler": "orderflow.notifier_handler.lambda_handler",
            "Runtime": "python3.12",
            "Role": {"Fn::GetAtt": ["NotifierRole", "Arn"]},
            "Environment": {
                "Variables": {"SENDER_EMAIL": {"Ref": "Sender"}, "NOTIFICATIONS_TABLE": {"Ref": "Notifications"}}
            },
        },
    },
}


def _template(tmp_path: Path, resources: dict[str, Any]) -> Path:
    path = tmp_path / "template.json"
    path.write_text(json.dumps({"Resources": resources}))
    return path


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield {
            service: boto3.client(service, region_name=REGION)  # type: ignore[call-overload]
            for service in ("sqs", "dynamodb", "iam", "sesv2")
        }


def test_the_identities_are_read_and_no_longer_skipped(tmp_path: Path) -> None:
    spec = load_template(_template(tmp_path, RESOURCES))
    assert {key: identity.name for key, identity in spec.email_identities.items()} == {
        "Sender": SENDER,
        "Domain": "mail.shop.example",
    }
    assert "AWS::SES::EmailIdentity" not in spec.not_emulated
    assert skipped_summary(spec.not_emulated) == ""


def test_an_identity_that_is_not_a_plain_name_is_refused_in_one_line(tmp_path: Path) -> None:
    resources = {"Sender": {"Type": "AWS::SES::EmailIdentity", "Properties": {"EmailIdentity": {"Ref": "Address"}}}}
    with pytest.raises(TemplateError) as raised:
        load_template(_template(tmp_path, resources))
    assert str(raised.value) == "Sender: its EmailIdentity must be an address or a domain, got {'Ref': 'Address'}"


def test_deploy_creates_the_identities_verified_so_the_stack_can_send_from_them(
    tmp_path: Path, aws: dict[str, Any]
) -> None:
    deployed = deploy(
        load_template(_template(tmp_path, RESOURCES)),
        sqs=aws["sqs"],
        dynamodb=aws["dynamodb"],
        iam=aws["iam"],
        sesv2=aws["sesv2"],
    )
    listed = {item["IdentityName"]: item for item in aws["sesv2"].list_email_identities()["EmailIdentities"]}
    assert set(listed) == {SENDER, "mail.shop.example"}
    assert deployed.email_identities == {
        "Sender": f"arn:aws:ses:{REGION}:{ACCOUNT_ID}:identity/{SENDER}",
        "Domain": f"arn:aws:ses:{REGION}:{ACCOUNT_ID}:identity/mail.shop.example",
    }
    # the function's From address and its role's policy resolve to the identity
    assert deployed.function_environment(deployed.spec.functions["Notifier"])["SENDER_EMAIL"] == SENDER
    policy = aws["iam"].get_role_policy(RoleName=deployed.spec.roles["NotifierRole"].name, PolicyName="send")
    assert policy["PolicyDocument"]["Statement"][0]["Resource"] == deployed.email_identities["Sender"]
    # moto sends from an identity it holds only (whatever GetEmailIdentity's VerifiedForSendingStatus
    # says): the sender's address, and any address of the domain
    sent = aws["sesv2"].send_email(
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": ["customer@example.com"]},
        Content={"Simple": {"Subject": {"Data": "hi"}, "Body": {"Text": {"Data": "hello"}}}},
    )
    assert sent["MessageId"]
    aws["sesv2"].send_email(
        FromEmailAddress="noreply@mail.shop.example",
        Destination={"ToAddresses": ["customer@example.com"]},
        Content={"Simple": {"Subject": {"Data": "hi"}, "Body": {"Text": {"Data": "hello"}}}},
    )


def test_without_an_ses_client_nothing_is_created_but_the_names_still_resolve(
    tmp_path: Path, aws: dict[str, Any]
) -> None:
    deployed = deploy(load_template(_template(tmp_path, RESOURCES)), sqs=aws["sqs"], dynamodb=aws["dynamodb"])
    assert deployed.email_identities == {}
    assert aws["sesv2"].list_email_identities()["EmailIdentities"] == []
    assert deployed.function_environment(deployed.spec.functions["Notifier"])["SENDER_EMAIL"] == SENDER
    with pytest.raises(aws["sesv2"].exceptions.ClientError, match="MessageRejected"):
        aws["sesv2"].send_email(
            FromEmailAddress=SENDER,
            Destination={"ToAddresses": ["customer@example.com"]},
            Content={"Simple": {"Subject": {"Data": "hi"}, "Body": {"Text": {"Data": "hello"}}}},
        )


def test_an_identity_created_twice_is_not_an_error(tmp_path: Path, aws: dict[str, Any]) -> None:
    aws["sesv2"].create_email_identity(EmailIdentity=SENDER)
    spec = load_template(_template(tmp_path, {"Sender": RESOURCES["Sender"]}))
    deployed = deploy(spec, sqs=aws["sqs"], dynamodb=aws["dynamodb"], sesv2=aws["sesv2"])
    assert list(deployed.email_identities) == ["Sender"]
