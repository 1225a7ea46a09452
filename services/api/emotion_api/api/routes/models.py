"""GET /v1/models: what is being served (versions, rollout labels, input shape, label names, and
each version's key figures from its model card)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ... import model_cards
from ..deps import RuntimeDep, require_access
from ..schemas import ErrorResponse, ModelCardSummary, ModelsResponse, VersionLabels

router = APIRouter(prefix="/v1", tags=["models"], dependencies=[Depends(require_access)])


@router.get("/models", response_model=ModelsResponse, responses={503: {"model": ErrorResponse}})
async def list_models(runtime: RuntimeDep) -> ModelsResponse:
    description = await runtime.backend.describe()
    state = runtime.rollout.current()
    labels = description.version_labels
    return ModelsResponse(
        name=description.name,
        backend=runtime.backend.name,
        versions=list(description.versions),
        version_labels=VersionLabels(stable=labels.get("stable"), canary=labels.get("canary")),
        canary_weight=state.canary_weight if state and state.canary is not None else 0.0,
        input_shape=list(description.input_shape),
        label_names=list(description.label_names),
        cards={str(v): ModelCardSummary(**card) for v in description.versions
               if (card := model_cards.summary(runtime.settings.model_base_path, v)) is not None},
        runtimes={str(v): name for v, name in sorted(description.runtimes.items())},
    )
