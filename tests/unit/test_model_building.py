"""Every model builds its validator on first use: a function's cold start pays only for the
models it uses (chalicelib.models.common.Model, pydantic's defer_build)."""

from __future__ import annotations

import importlib
import pkgutil

from pydantic import BaseModel
from pydantic_settings import BaseSettings

import chalicelib
from chalicelib.models.common import Model


def _models() -> list[type[BaseModel]]:
    for module in pkgutil.walk_packages(chalicelib.__path__, "chalicelib."):
        importlib.import_module(module.name)
    found: list[type[BaseModel]] = []
    pending: list[type[BaseModel]] = [BaseModel]
    while pending:
        for sub in pending.pop().__subclasses__():
            pending.append(sub)
            if sub.__module__.startswith("chalicelib."):
                found.append(sub)
    return found


def test_every_model_of_the_app_defers_its_build() -> None:
    models = _models()
    assert len(models) > 50
    eager = sorted(
        f"{m.__module__}.{m.__qualname__}"
        for m in models
        # Settings are read at every cold start anyway.
        if not issubclass(m, Model | BaseSettings) and "[" not in m.__qualname__
    )
    assert eager == []
