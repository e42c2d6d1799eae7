"""The node's web page: browse, search, reuse and publish from a browser.

Served by the node's own aiohttp server (no other server, no build step): ``/``
is `static/index.html`, ``/web/*`` its script and style, and ``/v1/web/*`` the JSON
routes the page needs beyond the node's API (`lwnode.http.web.routes`). The page sends
a user's rows to *this* node only, which builds their RKME here and sends peers
nothing but that spec.

=================  ==============================================================
module             holds
=================  ==============================================================
``routes.py``      `setup_web`, the ``/v1/web`` handlers, `PAGE_PATHS`
``forms.py``       bounded multipart uploads into a temporary directory
``answers.py``     a search's answer the page sends back to re-rank, read as hostile
``jobs.py``        `WebJobs`: compute thread, worker processes, package cache
``worker.py``      the worker process: reuse, re-rank and pack jobs
``scoring.py``     reuse + score against a model trained on the user's labels
``openapi.py``     the ``/v1/web`` routes in the OpenAPI document
``static/``        the page: plain HTML, CSS and JavaScript
=================  ==============================================================
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {"API_ROUTES": "lwnode.http.web.routes", "PAGE_PATHS": "lwnode.http.web.routes",
            "setup_web": "lwnode.http.web.routes", "WEB_PATHS": "lwnode.http.web.openapi"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    # Lazy, so the worker process (``python -m lwnode.http.web.worker``) starts without aiohttp
    # and the node's routes.
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(name)
