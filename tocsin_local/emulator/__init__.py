"""A local stand-in for API Gateway and Lambda's event sources, for any Chalice project.

Processes: the gateway serves the HTTP routes; the runner invokes event handlers (SQS, SNS,
schedules, DynamoDB streams) in function-instance processes, with Lambda's event shapes and
semantics, against whatever AWS endpoint boto3 is pointed at.
"""
