"""One function instance: imports a Chalice handler and serves invocations over two pipes.

Started by the runner as ``python -m tocsin_local.emulator.worker``; requests and responses are
JSON lines on file descriptors of their own, so the handler may print freely (its output is the
function's log). Like a Lambda execution environment it is reused across invocations, and it is
killed, not asked, when an invocation overruns the function timeout.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from typing import Any

from tocsin_local.emulator.lifecycle import die_with_parent
from tocsin_local.emulator.runtime import redirect_execute_api


class LambdaContext:
    def __init__(self, request_id: str, deadline_ms: float) -> None:
        self.aws_request_id = request_id
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "function")
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        region = os.environ.get("AWS_REGION", "us-east-1")
        account = os.environ.get("TOCSIN_LOCAL_ACCOUNT_ID", "123456789012")
        self.invoked_function_arn = (
            f"arn:aws:lambda:{region}:{account}:function:{self.function_name}"
        )
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))


def _error(exc: BaseException, kind: str | None = None) -> dict[str, Any]:
    return {
        "errorMessage": str(exc),
        "errorType": kind or type(exc).__name__,
        "stackTrace": traceback.format_exception(exc),
    }


def _load_handler(handler: str) -> Any:
    module_name, _, attribute = handler.rpartition(".")
    module = importlib.import_module(module_name)
    return getattr(module, attribute)


def main() -> None:
    die_with_parent()
    requests = os.fdopen(int(os.environ.pop("_TOCSIN_REQ_FD")), "r", encoding="utf-8")
    responses = os.fdopen(int(os.environ.pop("_TOCSIN_RESP_FD")), "w", encoding="utf-8")
    project_dir = os.environ.pop("_TOCSIN_PROJECT_DIR")
    sys.path.insert(0, project_dir)
    os.chdir(project_dir)
    redirect_execute_api()
    init_error = None
    handler = None
    try:
        handler = _load_handler(os.environ["_HANDLER"])
    except BaseException as exc:
        init_error = _error(exc, "Runtime.ImportModuleError")
        traceback.print_exc()
    responses.write(json.dumps({"ready": True, "init_error": init_error}) + "\n")
    responses.flush()
    for line in requests:
        request = json.loads(line)
        started = time.time()
        reply: dict[str, Any] = {"id": request["id"]}
        if init_error is not None:
            reply["error"] = init_error
        else:
            context = LambdaContext(request["id"], request["deadline_ms"])
            try:
                result = handler(request["event"], context)  # type: ignore[misc]
                reply["result"] = json.loads(json.dumps(result, default=str))
            except Exception as exc:
                traceback.print_exc()
                reply["error"] = _error(exc)
        reply["duration_ms"] = (time.time() - started) * 1000
        sys.stdout.flush()
        sys.stderr.flush()
        responses.write(json.dumps(reply) + "\n")
        responses.flush()


if __name__ == "__main__":
    main()
