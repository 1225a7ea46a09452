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
    uncertain: bool = Field(
        description="true when `confidence` is below the uncertain threshold (UNCERTAIN_THRESHOLD; by default "
                    "the served model's, under which its val accuracy falls below 80 %): the answer is a guess")


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
                    uncertain=f.uncertain,
                )
                for f in result.faces
            ],
        )


class VersionLabels(BaseModel):
    stable: int | None
    canary: int | None


class ModelCardSummary(BaseModel):
    arch: str | None = Field(description="architecture, or `ensemble` (see `members`)")
    members: list[str] | None = None
    multiply_adds_per_face: int | None = Field(None, description="inference cost of one face")
    parameters: int | None = None
    val_accuracy: float | None = Field(None, description="FER-2013 PublicTest accuracy, plain")
    val_accuracy_flip_tta: float | None = None
    val_macro_f1: float | None = None
    calibration: str | None = Field(None, description="`temperature`, `vector`, `top-label`, or null when uncalibrated")
    uncertain_threshold: float | None = Field(None, description="the version's own uncertain threshold (val)")
    card: str | None = Field(None, description="the full model card, relative to MODEL_BASE_PATH")


class ModelsResponse(BaseModel):
    name: str
    backend: str = Field(examples=["embedded", "serving"])
    versions: list[int] = Field(description="versions loaded and answering")
    version_labels: VersionLabels
    canary_weight: float = Field(description="share of unpinned requests sent to the canary")
    input_shape: list[int] = Field(examples=[[48, 48, 1]])
    label_names: list[str]
    cards: dict[str, ModelCardSummary] = Field(
        default_factory=dict, description="version -> key figures of its model card, where the gateway can read it")
    runtimes: dict[str, str] = Field(
        default_factory=dict, examples=[{"10": "tflite-int8", "9": "savedmodel"}],
        description="embedded backend: version -> what runs it (`savedmodel`, or `tflite-int8` for the version's "
                    "int8 copy; EMBEDDED_RUNTIME); empty with Serving, which runs the SavedModel")


class ErrorBody(BaseModel):
    code: str = Field(examples=["invalid_image"])
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody
