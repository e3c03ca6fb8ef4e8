"""The web UI served by ``modelyard server``: server-rendered pages (Jinja2) and a little JavaScript.

Layout:

- ``routes.py``: ``extra_routes(services)`` — what the tracking server mounts (pages, static files,
  the plotly.js bundled in the installed ``plotly`` package; no CDN).
- ``templating.py``: the Jinja2 environment (autoescape on, filters), ``render()`` and ``Crumb``.
- ``pages/``: one module per area, each exposing ``routes(services) -> list[Route]``.
- ``templates/`` and ``static/``.

Pages read through the same stores as the REST API (``services.tracking``, ``services.registry``);
state changes are made by the page's JavaScript through the JSON ``/ajax-api`` endpoints, which
refuse non-JSON bodies and foreign Origins (``server/security.py``): a cross-site form cannot
post to them.
"""
