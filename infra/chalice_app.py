"""The Chalice app as the deploy template needs it: its functions and event sources, read as the
emulator reads them (``tocsin_local.emulator.project``), and its REST API as Chalice's own
swagger generator writes it for ``chalice package``.

Reading the app imports ``app.py`` with the stage's environment (as ``chalice package`` does). That
import sets process-wide state (cached settings, the app the catch-all routes answer for), so it
runs in a child process: ``python -m infra.chalice_app PROJECT_DIR STAGE`` prints one JSON line.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalice.deploy.swagger import CFNSwaggerGenerator

from tocsin_local.emulator.project import ProjectDescription, describe, import_app, run_in_child

# Where ``infra`` itself lives, so that the child finds it however the caller was started.
_REPOSITORY = Path(__file__).resolve().parent.parent
# What Chalice can register that the template does not deploy (yet): refused, never dropped.
_UNSUPPORTED = {
    "pure_lambda_functions": "@app.lambda_function",
    "builtin_auth_handlers": "@app.authorizer",
    "websocket_handlers": "websocket handlers",
}


@dataclass(frozen=True)
class ChaliceApp:
    project: ProjectDescription
    # Swagger 2.0 with API Gateway extensions; integrations point at ``${APIHandler.Arn}``.
    swagger: dict[str, Any]


def read(project_dir: Path, stage: str) -> ChaliceApp:
    """Imports the app in this process; see ``read_in_child``."""
    project = describe(project_dir, stage)
    app = import_app(project_dir)
    for attribute, what in _UNSUPPORTED.items():
        if getattr(app, attribute):
            raise ValueError(f"the deploy template does not deploy {what} yet")
    swagger: dict[str, Any] = CFNSwaggerGenerator().generate_swagger(app)
    return ChaliceApp(project=project, swagger=swagger)


def read_in_child(project_dir: Path, stage: str) -> ChaliceApp:
    """``read`` in a fresh interpreter. The caller's ``TOCSIN_*`` variables stay out, so that
    the app sees only what .chalice/config.json sets for the stage."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TOCSIN_")}
    raw = json.loads(run_in_child("infra.chalice_app", project_dir, stage, env, cwd=_REPOSITORY))
    return ChaliceApp(
        project=ProjectDescription.from_json(json.dumps(raw["project"])),
        swagger=raw["swagger"],
    )


if __name__ == "__main__":
    chalice_app = read(Path(sys.argv[1]).resolve(), sys.argv[2])
    line = json.dumps(
        {"project": json.loads(chalice_app.project.to_json()), "swagger": chalice_app.swagger}
    )
    sys.stdout.write("\n" + line + "\n")
