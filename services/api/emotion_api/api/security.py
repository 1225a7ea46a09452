"""What keeps responses and log lines from helping an attacker.

- Every HTTP response says ``X-Content-Type-Options: nosniff``, so a browser never runs an error
  body or an echoed upload as HTML or script. (The web page adds its Content-Security-Policy in
  ``routes/web.py``; uvicorn's ``Server`` banner is switched off where uvicorn is started.)
- uvicorn logs request paths with their query string, and the WebSocket stream accepts
  ``?api_key=``: ``redact_keys`` masks such values before a log line is written. The gateway's own
  code never logs keys; callers are named by a digest of theirs (``auth.key_identity``).
"""

from __future__ import annotations

import logging
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

NOSNIFF = (b"x-content-type-options", b"nosniff")
_KEY_IN_QUERY = re.compile(r"((?:api_key|apikey|key|token)=)[^&\s\"']+", re.IGNORECASE)
# The loggers that write request paths: uvicorn's access log and its WebSocket accept/reject lines.
PATH_LOGGERS = ("uvicorn.access", "uvicorn.error")


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == NOSNIFF[0] for name, _ in headers):
                    headers.append(NOSNIFF)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RedactKeys(logging.Filter):
    """Redacts keys inside the record's arguments, keeping their shape: uvicorn's access formatter
    unpacks exactly five of them, so collapsing them into the message breaks that formatter."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = _KEY_IN_QUERY.sub(r"\1[redacted]", record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_KEY_IN_QUERY.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                                for a in record.args)
        return True


def redact_keys() -> None:
    """Install the filter on the loggers that write request paths (idempotent)."""
    for name in PATH_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactKeys) for f in logger.filters):
            logger.addFilter(RedactKeys())
