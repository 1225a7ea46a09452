"""The browser page: GET / and its static assets, all served by the gateway itself (no CDN)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

WEB_DIR = Path(__file__).resolve().parents[2] / "web"

_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}

# The page may talk to its own origin only; this also makes any accidental external asset fail
# loudly in the browser tests instead of silently depending on the network.
_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; "
    "connect-src 'self'; style-src 'self'; script-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
# Assets are small and change with deployments: let the browser revalidate (ETag) every time.
_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}

# Only the files that ship in web/ can be served, so no request path can reach anything else.
_ASSETS = {p.name: p for p in WEB_DIR.iterdir() if p.is_file() and p.suffix in _MEDIA_TYPES and p.name != "index.html"}

router = APIRouter(tags=["web"], include_in_schema=False)


@router.get("/")
async def index() -> FileResponse:
    return FileResponse(
        WEB_DIR / "index.html",
        media_type=_MEDIA_TYPES[".html"],
        headers={**_HEADERS, "Content-Security-Policy": _CSP},
    )


@router.get("/static/{name}")
async def static_asset(name: str) -> FileResponse:
    path = _ASSETS.get(name)
    if path is None:
        raise HTTPException(status_code=404, detail="not found")
    return FileResponse(path, media_type=_MEDIA_TYPES[path.suffix], headers=_HEADERS)
