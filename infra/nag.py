"""Acknowledging a cdk-nag rule: always on one construct, always with a specific reason."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_cdk import Acknowledgment, CfnResource, Validations

if TYPE_CHECKING:
    from constructs import IConstruct


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge ``rule`` (``Pack::Rule-Id[finding]``) on ``construct`` and its children."""
    if len(reason) < 40:
        raise ValueError(f"acknowledging {rule} needs a specific reason, not {reason!r}")
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))


def skip_checkov(construct: IConstruct, **reasons: str) -> None:
    """Skip checkov checks (``CKV_AWS_116="why"``) in the resource's template metadata."""
    resource = construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to annotate")
    for check, reason in reasons.items():
        if len(reason) < 40:
            raise ValueError(f"skipping {check} needs a specific reason, not {reason!r}")
    existing: dict[str, Any] = resource.get_metadata("checkov") or {"skip": []}
    existing["skip"] = [*existing["skip"], *({"id": check, "comment": why} for check, why in reasons.items())]
    resource.add_metadata("checkov", existing)
