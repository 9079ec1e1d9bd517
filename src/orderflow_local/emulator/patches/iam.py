"""IAM enforced the way Lambda's execution role is: one of the moto patches (see orderflow_local.emulator.patches).

Requests signed with an assumed role's temporary credentials (what an execution
environment gets, in ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` and
``AWS_SESSION_TOKEN``) are authorized against that role's policies, as AWS does. Requests
signed with any other credentials (a person's CLI, tests, the ``orderflow`` commands) are
the account's administrator, so "any credentials work" stays true for people.

moto 5.2.5 can evaluate IAM policies, but for our use it falls short in four ways, each
corrected here and only while enforcement is on (``enforce(True)``; off, moto's own code
runs untouched):

- it evaluates every request, or none (a process-wide request count), with no notion of an
  administrator; unknown access keys are refused;
- it works out the resource of every DynamoDB request as ``*``, so a policy scoped to a
  table's ARN (as every least-privilege policy is) never matches; AWS authorizes the table
  (or ``table/NAME/index/INDEX``), each table of a batch, each item of a transaction, and
  a DynamoDB Streams request its stream's ARN; EventBridge's ``PutEvents`` likewise (``*``),
  where AWS authorizes the bus each entry is put on;
- it works out the resource of an SES send as ``*``, where AWS authorizes the sending
  identity (the From address's, else its domain's), so a policy scoped to the identity's
  ARN (the Notifier's) never matches;
- it authorizes SQS's batch actions under their own names (``sqs:DeleteMessageBatch``),
  where AWS uses the single action's permission (``sqs:DeleteMessage``);
- it answers a refusal with an XML body in every protocol, which a JSON-protocol client
  (DynamoDB, and SQS since 2023) cannot parse: botocore reports error code ``403``. AWS
  answers ``AccessDeniedException`` (DynamoDB) or ``AccessDenied`` (SQS), naming the
  action, the resource and why.
"""

from __future__ import annotations

import json
from typing import Any

_enforced = False

#: AWS authorizes SQS's batch actions with the single action's permission.
SQS_BATCH_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}
#: The action a DynamoDB transaction item is authorized as, by its key in TransactItems.
DYNAMODB_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def enforce(enabled: bool) -> None:
    """Turn enforcement on or off for this process's emulator."""
    global _enforced
    _enforced = enabled


def enforced() -> bool:
    return _enforced


def install(originals: dict[str, Any]) -> None:
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.access_control import IAMRequest

    original = ActionAuthenticatorMixin._authenticate_and_authorize_action
    originals["ActionAuthenticatorMixin._authenticate_and_authorize_action"] = original

    def authenticate_and_authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        if not _enforced or iam_request_cls is not IAMRequest:
            return original(self, iam_request_cls, resource)
        return _authorize_role_session(self, resource)

    ActionAuthenticatorMixin._authenticate_and_authorize_action = authenticate_and_authorize  # type: ignore[method-assign]


def _credential_scope(headers: Any) -> list[str]:
    authorization = str(headers.get("Authorization", ""))
    return authorization.partition("Credential=")[2].partition(",")[0].split("/")


def role_session_of(account_id: str, headers: Any) -> Any | None:
    """The assumed-role session that signed this request, or None (an administrator)."""
    from moto.sts.models import sts_backends

    scope = _credential_scope(headers)
    if len(scope) < 4 or not headers.get("X-Amz-Security-Token"):
        return None
    from moto.utilities.utils import get_partition

    backend = sts_backends[account_id][get_partition(scope[2])]
    return next((role for role in backend.assumed_roles if role.access_key_id == scope[0]), None)


def _authorize_role_session(response: Any, resource: str) -> None:
    from moto.iam.access_control import IAMPolicy, IAMRequest, PermissionResult

    session = role_session_of(response.current_account, response.headers)
    if session is None:
        return  # not a role's credentials: the account's administrator
    path = response.raw_path
    query = response.uri.partition("?")[2]
    action = response._get_action()
    request = IAMRequest(
        account_id=response.current_account,
        method=response.method,
        path=path + ("?" + query if query else ""),
        data=response.data,
        body=response.raw_body,
        headers=response.headers,
        action=action,
    )
    request.check_signature()  # a forged or stale signature is refused as moto refuses it
    service = _credential_scope(response.headers)[3]
    policies = request._access_key.collect_policies()
    for name, arn in requested(service, action, response, resource):
        results = {IAMPolicy(policy).is_action_permitted(f"{service}:{name}", arn) for policy in policies}
        if PermissionResult.DENIED in results:
            why = "with an explicit deny in an identity-based policy"
        elif PermissionResult.PERMITTED in results:
            continue
        else:
            why = f"because no identity-based policy allows the {service}:{name} action"
        raise access_denied(response, service, session.arn, f"{service}:{name}", arn, why)


def requested(service: str, action: str, response: Any, resource: str) -> list[tuple[str, str]]:
    """The (action, resource ARN) pairs AWS authorizes for this request."""
    if service == "sqs":
        return [(SQS_BATCH_ACTIONS.get(action, action), resource)]
    if service == "dynamodb":
        return _dynamodb_requested(action, _params(response), response)
    if service == "events" and action == "PutEvents":
        return _put_events_requested(_params(response), response)
    if service == "secretsmanager":
        return [(action, _secret_arn(_params(response), response))]
    if service == "ses" and action in SES_SEND_ACTIONS:
        return [(action, _ses_identity_arn(response))]
    return [(action, resource)]


#: The SES actions authorized on the sending identity (SES v2 SendEmail, any content; SES v1's sends).
SES_SEND_ACTIONS = frozenset({"SendEmail", "SendRawEmail", "SendTemplatedEmail", "SendBulkTemplatedEmail",
                              "SendBulkEmail"})  # fmt: skip


def _ses_identity_arn(response: Any) -> str:
    """The identity an SES send is authorized on: the From address's own identity when the account has
    it, else its domain's (https://docs.aws.amazon.com/ses/latest/dg/control-user-access.html).

    The address is SES v2's ``FromEmailAddress`` or SES v1's ``Source``; failing both, a raw
    message's From header.
    """
    import base64
    from email.parser import BytesHeaderParser
    from email.utils import parseaddr

    from moto.ses.models import ses_backends

    params = _params(response)
    sender = params.get("FromEmailAddress") or _query_param(response, "Source")
    if not sender:
        raw = (params.get("Content") or {}).get("Raw", {}).get("Data") or _query_param(response, "RawMessage.Data")
        try:
            headers = BytesHeaderParser().parsebytes(base64.b64decode(str(raw or "")))
        except (ValueError, TypeError):
            headers = None
        sender = str(headers.get("From", "")) if headers is not None else ""
    address = parseaddr(str(sender))[1]
    if not address:
        return "*"
    identities = ses_backends[response.current_account][response.region].email_identities
    domain = address.rpartition("@")[2]
    identity = domain if address not in identities and domain in identities else address
    return f"arn:aws:ses:{response.region}:{response.current_account}:identity/{identity}"


def _query_param(response: Any, name: str) -> str | None:
    """A query-protocol parameter (SES v1), or None."""
    values = getattr(response, "querystring", None) or {}
    found = values.get(name) if isinstance(values, dict) else None
    return str(found[0]) if isinstance(found, list) and found else None


def _secret_arn(params: dict[str, Any], response: Any) -> str:
    """The secret a Secrets Manager request names (``SecretId``: an ARN or a name), by its full ARN, as
    AWS authorizes it (https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_iam-policies.html);
    ``*`` for a request naming none (ListSecrets)."""
    secret_id = params.get("SecretId")
    if not secret_id:
        return "*"
    from moto.secretsmanager.models import secretsmanager_backends

    # moto's store finds a secret by name, full ARN or partial ARN, as AWS does
    found = secretsmanager_backends[response.current_account][response.region].secrets.get(str(secret_id))
    if found is not None:
        return str(found.arn)
    if str(secret_id).startswith("arn:"):
        return str(secret_id)
    return f"arn:aws:secretsmanager:{response.region}:{response.current_account}:secret:{secret_id}"


def _params(response: Any) -> dict[str, Any]:
    """The request's JSON parameters (moto's DynamoDB handler has parsed them; the others have not)."""
    body = response.body
    if isinstance(body, dict):
        return body
    try:
        parsed = json.loads(body or "{}")
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _put_events_requested(params: dict[str, Any], response: Any) -> list[tuple[str, str]]:
    """``events:PutEvents`` on the bus of each entry (``default`` when it names none), each bus once.

    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-identity-based.html
    """
    buses = []
    for entry in params.get("Entries", []):
        bus = str(entry.get("EventBusName") or "default") if isinstance(entry, dict) else "default"
        arn = (
            bus
            if bus.startswith("arn:")
            else f"arn:aws:events:{response.region}:{response.current_account}:event-bus/{bus}"
        )
        if ("PutEvents", arn) not in buses:
            buses.append(("PutEvents", arn))
    return buses or [("PutEvents", "*")]


def _dynamodb_requested(action: str, params: dict[str, Any], response: Any) -> list[tuple[str, str]]:
    def table(name: str) -> str:
        return f"arn:aws:dynamodb:{response.region}:{response.current_account}:table/{name}"

    if action in ("BatchGetItem", "BatchWriteItem"):
        return [(action, table(name)) for name in params.get("RequestItems", {})]
    if action in ("TransactWriteItems", "TransactGetItems"):
        pairs = []
        for item in params.get("TransactItems", []):
            for kind, request in item.items():
                pairs.append((DYNAMODB_TRANSACT_ACTIONS.get(kind, action), table(request.get("TableName", ""))))
        return pairs
    if action in ("DescribeStream", "GetShardIterator") and params.get("StreamArn"):
        return [(action, str(params["StreamArn"]))]
    if action == "GetRecords" and params.get("ShardIterator"):
        # moto's iterators are "STREAM_ARN|1|ID": the records are the stream's
        return [(action, str(params["ShardIterator"]).split("|", 1)[0])]
    name = params.get("TableName") or params.get("TableArn")
    if not name:
        return [(action, "*")]  # ListTables, DescribeLimits, ...
    arn = name if str(name).startswith("arn:") else table(name)
    if params.get("IndexName") and action in ("Query", "Scan"):
        arn += f"/index/{params['IndexName']}"
    return [(action, arn)]


def access_denied(response: Any, service: str, principal: str, action: str, resource: str, why: str) -> Exception:
    """AWS's refusal, in the protocol the client speaks (JSON for DynamoDB and today's SQS SDKs)."""
    from moto.core.exceptions import AccessDeniedError, JsonRESTError

    message = f"User: {principal} is not authorized to perform: {action} on resource: {resource} {why}"
    if service == "dynamodb":
        response.response_headers["Content-Type"] = "application/x-amz-json-1.0"
        error = JsonRESTError("com.amazon.coral.service#AccessDeniedException", message)
        error.code = 400
        return error
    if service == "ses" and str(getattr(response, "raw_path", "")).startswith("/v2/"):  # SES v2's REST JSON
        response.response_headers["Content-Type"] = "application/json"
        response.response_headers["x-amzn-ErrorType"] = "AccessDeniedException"
        error = JsonRESTError("AccessDeniedException", message)
        error.code = 403
        return error
    if service in {"events", "secretsmanager"}:  # JSON-only protocols: AccessDeniedException, as AWS answers
        response.response_headers["Content-Type"] = "application/x-amz-json-1.1"
        error = JsonRESTError("AccessDeniedException", message)
        error.code = 400
        return error
    if "X-Amz-Target" in response.headers:  # SQS's JSON protocol: the query-compatible code in a header
        response.response_headers["x-amzn-query-error"] = "AccessDenied;Sender"
        response.response_headers["Content-Type"] = "application/x-amz-json-1.0"
        error = JsonRESTError("com.amazon.coral.service#AccessDeniedException", message)
        error.code = 403
        return error
    refusal = AccessDeniedError(user_arn=principal, action=action)
    refusal.description = (refusal.description or "").replace(
        f"not authorized to perform: {action}", f"not authorized to perform: {action} on resource: {resource} {why}"
    )
    return refusal
