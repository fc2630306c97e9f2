"""A local stand-in for API Gateway and Lambda's event sources, for any Chalice project.

Processes: the gateway serves the REST API as Chalice deploys it (authorizers, API keys, CORS
preflights, binary media); the runner invokes every other function (SQS, SNS, schedules,
EventBridge patterns, S3 notifications, DynamoDB and Kinesis streams, WebSocket APIs, plain
Lambda functions through the Invoke API) in function-instance processes, with Lambda's event
shapes and semantics, against whatever AWS endpoint boto3 is pointed at.
"""
