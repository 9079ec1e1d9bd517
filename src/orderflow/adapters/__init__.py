"""Adapters: the domain's ports implemented with boto3 (DynamoDB store, SQS dead letters)."""

from orderflow.adapters.dead_letters import SqsDeadLetterPublisher
from orderflow.adapters.dynamodb_store import DynamoDbOrderStore

__all__ = ["DynamoDbOrderStore", "SqsDeadLetterPublisher"]
