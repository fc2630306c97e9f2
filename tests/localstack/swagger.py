"""``python -m tests.localstack.swagger PROJECT_DIR STAGE``: prints the Swagger document that
``chalice deploy`` would give API Gateway for the project (it imports the app, hence a child
process), with placeholder function ARNs that the LocalStack backend replaces."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from tocsin_local.emulator.gateway import chalice_swagger
from tocsin_local.emulator.project import function_config, import_app, read_config

if __name__ == "__main__":
    project, stage = Path(sys.argv[1]).resolve(), sys.argv[2]
    api = function_config(read_config(project), stage, "api_handler", "app.app")
    os.environ.update(api.environment)
    app = import_app(project)
    region = os.environ.get("AWS_REGION") or "us-east-1"
    swagger = chalice_swagger(app, stage, region, "123456789012")
    sys.stdout.write("\n" + json.dumps(swagger) + "\n")
