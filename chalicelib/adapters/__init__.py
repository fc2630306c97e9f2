"""Implementations of the ports against AWS (DynamoDB, SNS, SQS, SES) and HTTP."""
