"""The base of every pydantic model of the service: schemas are built on first use.

A function imports the models of the whole domain layer (request, response, task and settings models)
but validates only its own; building a model's schema when its class is defined costs a cold start
for every model, used or not. With ``defer_build`` a schema is built the first time the model
validates or serialises (and, deployed, before the SnapStart snapshot for what the first request uses).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    model_config = ConfigDict(defer_build=True)
