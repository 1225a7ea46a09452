"""Response bodies of the public API (they also drive the OpenAPI document at /docs)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ..pipeline import AnalysisResult


class BoxOut(BaseModel):
    x: int = Field(description="left edge, pixels of the image as displayed (EXIF orientation applied)")
    y: int = Field(description="top edge")
    width: int
    height: int


class FaceOut(BaseModel):
    box: BoxOut
    emotion: str = Field(examples=["happy"])
    confidence: float = Field(ge=0, le=1, description="score of `emotion`")
    scores: dict[str, float] = Field(description="every emotion label -> probability; sums to 1")


class ModelRef(BaseModel):
    name: str = Field(examples=["emotion"])
    version: int | None = Field(description="the model version that answered")


class ImageSize(BaseModel):
    width: int
    height: int


class EmotionsResponse(BaseModel):
    model: ModelRef
    image: ImageSize
    faces: list[FaceOut] = Field(description="largest face first; empty when no face was found")

    @classmethod
    def from_result(cls, result: AnalysisResult) -> EmotionsResponse:
        return cls(
            model=ModelRef(name=result.model_name, version=result.version),
            image=ImageSize(width=result.width, height=result.height),
            faces=[
                FaceOut(
                    box=BoxOut(x=f.box.x, y=f.box.y, width=f.box.width, height=f.box.height),
                    emotion=f.emotion,
                    confidence=f.confidence,
                    scores=f.scores,
                )
                for f in result.faces
            ],
        )


class VersionLabels(BaseModel):
    stable: int | None
    canary: int | None


class ModelsResponse(BaseModel):
    name: str
    backend: str = Field(examples=["embedded", "serving"])
    versions: list[int] = Field(description="versions loaded and answering")
    version_labels: VersionLabels
    canary_weight: float = Field(description="share of unpinned requests sent to the canary")
    input_shape: list[int] = Field(examples=[[48, 48, 1]])
    label_names: list[str]


class ErrorBody(BaseModel):
    code: str = Field(examples=["invalid_image"])
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody
