"""AWS list prices that bench/cost.py prices Tocsin with: us-east-1, on demand, x86, the first
(highest) volume tier, no free tier. Dollars per unit; re-check them on the AWS pricing pages
before relying on a figure (they change: DynamoDB on-demand halved on 2024-11-01).
"""

from __future__ import annotations

PRICES_AS_OF = "2026-12-01"
REGION = "us-east-1"

PER_MILLION = 1e-6

# API Gateway, per request: HTTP API (first 300 M a month; each 512 KB counts as a request),
# REST API (first 333 M a month); a Lambda function URL costs nothing beyond the function.
HTTP_API_REQUEST = 1.00 * PER_MILLION
REST_API_REQUEST = 3.50 * PER_MILLION
FUNCTION_URL_REQUEST = 0.0
FRONT_DOOR_REQUEST = {
    "http": HTTP_API_REQUEST,
    "rest": REST_API_REQUEST,
    "url": FUNCTION_URL_REQUEST,
}

# Lambda: per request, and per GB-second of duration (x86, billed per millisecond).
LAMBDA_REQUEST = 0.20 * PER_MILLION
LAMBDA_GB_SECOND = 0.0000166667

# DynamoDB on demand, standard table class: per write request unit (1 KB, doubled in a
# transaction) and per read request unit (4 KB strongly consistent, or two eventually
# consistent reads).
DYNAMODB_WRITE_UNIT = 0.625 * PER_MILLION
DYNAMODB_READ_UNIT = 0.125 * PER_MILLION

# SNS standard topic: per publish (each 64 KB chunk); deliveries to SQS and Lambda are free.
SNS_PUBLISH = 0.50 * PER_MILLION

# SQS standard queue: per request (each 64 KB chunk; a batch of up to 10 is one request).
SQS_REQUEST = 0.40 * PER_MILLION

# EventBridge: custom events published cost $1.00 per million; the events of a scheduled rule
# (a rate or cron expression on the default bus) are not charged.
EVENTBRIDGE_CUSTOM_EVENT = 1.00 * PER_MILLION
EVENTBRIDGE_SCHEDULED_EVENT = 0.0
