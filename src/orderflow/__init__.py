"""orderflow: SQS -> Lambda -> DynamoDB order processing (the Lambda runtime package)."""
