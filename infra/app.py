"""Build the CDK app: the stack for a stage, with cdk-nag's rule packs as validations."""

from __future__ import annotations

import json
import os
from pathlib import Path

from aws_cdk import App, Tags, Validations
from aws_cdk import aws_lambda as lambda_
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from infra.config import stage_from_context, topology_from_context
from infra.lambda_asset import build_asset
from infra.stack import OrderProcessingStack

STACK_ID = "OrderProcessingStack"
CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"


def build_app(
    *,
    context: dict[str, str] | None = None,
    outdir: str | None = None,
    code: lambda_.Code | None = None,
) -> tuple[App, OrderProcessingStack]:
    """The app and its one stack.

    Context: ``stage=dev|prod`` (default dev), ``alarmEmail``, ``paymentApiUrl`` and ``senderEmail``
    override the stage's settings; ``fifo=true`` and ``fanout=true`` (default
    false, combinable) or ``ingress=eventbridge`` (alone) pick the topology.
    """
    app = App(context={**_cdk_json_context(), **(context or {})}, outdir=outdir)
    stage = stage_from_context(
        app.node.try_get_context("stage"),
        app.node.try_get_context("alarmEmail"),
        app.node.try_get_context("paymentApiUrl"),
        app.node.try_get_context("senderEmail"),
    )
    topology = topology_from_context(
        app.node.try_get_context("fifo"), app.node.try_get_context("fanout"), app.node.try_get_context("ingress")
    )
    stack = OrderProcessingStack(
        app,
        STACK_ID,
        stage=stage,
        topology=topology,
        code=code or lambda_.Code.from_asset(str(build_asset())),
        description=f"orderflow: SQS -> Lambda -> DynamoDB order processing ({stage.name}, {topology.name})",
    )
    Tags.of(stack).add("project", "orderflow")
    Tags.of(stack).add("stage", stage.name)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    return app, stack


def _cdk_json_context() -> dict[str, object]:
    """cdk.json's context, so `python app.py` (make synth) synthesizes what `cdk synth` does.

    The CDK CLI passes it itself (CDK_CONTEXT_JSON); then there is nothing to add.
    """
    if "CDK_CONTEXT_JSON" in os.environ:
        return {}
    context: dict[str, object] = json.loads(CDK_JSON.read_text()).get("context", {})
    return context


def template_path(outdir: str | Path = "cdk.out") -> Path:
    return Path(outdir) / f"{STACK_ID}.template.json"
