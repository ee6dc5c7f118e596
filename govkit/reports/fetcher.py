"""WeasyPrint's URL fetcher, locked down.

Only ``data:`` URLs and files inside the packaged ``templates/`` folder may
be read; nothing else (``file:`` elsewhere, ``http(s):``, ``ftp:``,
``javascript:``) is fetched, redirects are never followed, and every refused
URL is remembered so tests (and the report record) can prove it.
"""

from __future__ import annotations

import base64
import mimetypes
import urllib.parse
from pathlib import Path

from weasyprint.urls import URLFetcher, URLFetcherResponse

from govkit.resources import resource_dir


class SafeFetcher(URLFetcher):
    """A fetcher for ``weasyprint.HTML(url_fetcher=...)``: no network, no redirects, no files but ours."""

    def __init__(self) -> None:
        super().__init__(timeout=1, allowed_protocols=("data", "file"), allow_redirects=False, fail_on_errors=False)
        self.root = resource_dir("templates").resolve()
        self.refused: list[str] = []
        self.served: list[str] = []

    def fetch(self, url: str, headers: dict | None = None) -> URLFetcherResponse:
        scheme = url.split(":", 1)[0].lower()
        if scheme == "data":
            head, _, payload = url[5:].partition(",")
            mime = head.split(";")[0] or "text/plain"
            body = base64.b64decode(payload) if head.endswith(";base64") else urllib.parse.unquote_to_bytes(payload)
            self.served.append("data:" + mime)
            return URLFetcherResponse(url, body, {"Content-Type": mime})
        if scheme == "file":
            path = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).resolve()
            if path.is_relative_to(self.root) and path.is_file():
                self.served.append(str(path))
                mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": mime})
        self.refused.append(url)
        raise ValueError(f"govkit: refused to fetch {url!r}")
