"""S3 notifications and EventBridge rules -> function.

Wired as ``chalice deploy`` wires them, with Chalice's own client: the bucket gets a
``LambdaFunctionConfiguration`` for the function's ARN (events, prefix and suffix filter),
merged into its existing configuration; ``on_cw_event`` gets the rule
``{app_name}-{stage}-{name}-event`` with its event pattern and the function as target ``1``.
The endpoint's S3 and EventBridge then decide what is delivered (the pattern, the filters);
in the local cloud's moto server their Lambda deliveries land on the function's carrier queue
(``tocsin_local.moto_lambda``), from which the function is invoked asynchronously, with
Lambda's retries.
"""

from __future__ import annotations

import json
import logging

from botocore.exceptions import ClientError

from tocsin_local.emulator.carriers import Carrier, carrier_url
from tocsin_local.emulator.cloud import Cloud
from tocsin_local.emulator.functions import FunctionPool
from tocsin_local.emulator.project import EventSource

log = logging.getLogger("tocsin.emulator")


class _CarriedSource:
    def __init__(self, source: EventSource, pool: FunctionPool, cloud: Cloud) -> None:
        self.source = source
        self._cloud = cloud
        self.function_arn = cloud.function_arn(source.function.lambda_name)
        url = carrier_url(cloud, source.function.lambda_name, source.function.timeout + 30)
        self._carrier = Carrier(source.function.name, url, pool, cloud)
        self._connect()

    def _connect(self) -> None:
        raise NotImplementedError

    def _disconnect(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._carrier.start()

    def stop(self) -> None:
        self._carrier.stop()
        try:
            self._disconnect()
        except ClientError as problem:
            log.warning("could not disconnect %s: %s", self.source.function.name, problem)

    def reload(self, source: EventSource) -> None:
        changed = source.params != self.source.params
        self.source = source
        if changed:
            self._connect()


class S3Source(_CarriedSource):
    def _connect(self) -> None:
        params = self.source.params
        bucket = params["bucket"]
        s3 = self._cloud.client("s3")
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError:
            if not self._cloud.create_missing:
                raise LookupError(
                    f"bucket {bucket!r} does not exist (pass --create-missing to create it)"
                ) from None
            s3.create_bucket(Bucket=bucket)
        self._cloud.deployer.connect_s3_bucket_to_lambda(
            bucket, self.function_arn, params["events"], params.get("prefix"), params.get("suffix")
        )

    def _disconnect(self) -> None:
        self._cloud.deployer.disconnect_s3_bucket_from_lambda(
            self.source.params["bucket"], self.function_arn
        )


class EventBridgeSource(_CarriedSource):
    @property
    def rule_name(self) -> str:
        function = self.source.function
        return f"{function.lambda_name}-event"

    def _connect(self) -> None:
        deployer = self._cloud.deployer
        deployer.get_or_create_rule_arn(
            self.rule_name, event_pattern=json.dumps(self.source.params["event_pattern"])
        )
        deployer.connect_rule_to_lambda(self.rule_name, self.function_arn)

    def _disconnect(self) -> None:
        self._cloud.deployer.delete_rule(self.rule_name)
