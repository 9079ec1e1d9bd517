"""CDK stacks and constructs for orderflow (never bundled into the Lambda)."""
