"""ASGI entry point: `uvicorn emotion_api.main:app`."""

from .api.main import create_app

app = create_app()
