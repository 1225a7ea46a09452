"""The `emotion` command line tool; `python -m emotion_api.cli` or `bin/emotion`."""

from .main import main

__all__ = ["main"]
