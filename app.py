#!/usr/bin/env python3
"""CDK entry point: `make synth` (or `npx aws-cdk synth`) -> cdk.out/OrderProcessingStack.template.json.

Context, as with the CDK CLI: `-c stage=dev|prod` (default dev) picks the stage;
`-c fifo=true` (FIFO queues, one message group per order) and `-c fanout=true` (an SNS
topic in front of the queue), combinable, or `-c ingress=eventbridge` (an EventBridge bus
routing OrderCreated and OrderCancelled to a queue and a function each), pick the topology;
`-c alarmEmail=you@example.com` subscribes an address to the alarm topic.
"""

import argparse
import os

from infra.app import build_app

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE", help="CDK context value")
arguments = parser.parse_args()
context = dict(item.split("=", 1) for item in arguments.context)

app, _ = build_app(context=context, outdir=os.environ.get("CDK_OUTDIR", "cdk.out"))
app.synth()
