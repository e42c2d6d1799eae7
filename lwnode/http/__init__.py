"""The node over HTTP: the aiohttp app under ``/v1``, its JSON, OpenAPI and the page.

=================  ================================================================
module             holds
=================  ================================================================
``app.py``         the aiohttp API under ``/v1``
``jsonio.py``      JSON of the API <-> the node's types
``openapi.py``     the one OpenAPI 3 document served at ``/v1/openapi.json``
``errors.py``      the one error -> HTTP status table (API and web routes)
``guard.py``       bearer token, Host allowlist, Origin check (every route)
``server.py``      aiohttp's server + header/body deadlines, connection caps
``ratelimit.py``   rate and concurrency limits on expensive routes for open clients
``web/``           the node's web page and its ``/v1/web`` routes
=================  ================================================================

Uses the node core, the federation's types and the user's side (the page runs
user-side work for its visitors); the daemon composes it.
"""
