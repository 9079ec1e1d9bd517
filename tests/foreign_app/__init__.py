"""A CDK app that is not ours, written as a user would, for `orderflow up --template` (issue #24)."""
