"""Swagger UI (`/docs`) and ReDoc (`/redoc`) served by the app itself, never from a CDN, so
the docs work offline and their pages can carry a strict Content-Security-Policy.

flask-smorest still renders both pages; this package overrides its two templates (no inline
script, every URL same-origin) and serves the files they load under /docs/assets/. Swagger
UI's files come from the flask-swagger-ui wheel, whose `dist/` is swagger-ui-dist unmodified
(its blueprint is not used); swagger-ui-bundle on PyPI ships Swagger UI 4, which cannot render
OpenAPI 3.1. ReDoc's bundle is vendored: `vendor/redoc/README.md` says why and how to upgrade.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.util import find_spec
from pathlib import Path

from flask import Blueprint, Flask, Response, abort, request, send_file

from api import observability
from api.ratelimits import exempt

HERE = Path(__file__).resolve().parent
ASSETS_URL = "/docs/assets"  # config's OPENAPI_SWAGGER_UI_URL and OPENAPI_REDOC_URL point here
ONE_YEAR = 365 * 24 * 3600
JS = "text/javascript"  # send_file adds "; charset=utf-8" to text types
CSS = "text/css"


def _swagger_ui_dist() -> Path:
    spec = find_spec("flask_swagger_ui")  # located, not imported: only its files are used
    if spec is None or spec.origin is None:
        raise RuntimeError("flask-swagger-ui is not installed (run make install)")
    return Path(spec.origin).parent / "dist"


SWAGGER_UI_DIST = _swagger_ui_dist()
# Every file the two pages load, by the name under ASSETS_URL: nothing else is served.
ASSETS: dict[str, tuple[Path, str]] = {
    "swagger-ui/swagger-ui-bundle.js": (SWAGGER_UI_DIST / "swagger-ui-bundle.js", JS),
    "swagger-ui/swagger-ui.css": (SWAGGER_UI_DIST / "swagger-ui.css", CSS),
    "swagger-ui/init.js": (HERE / "static" / "swagger-ui-init.js", JS),
    "redoc/redoc.standalone.js": (HERE / "vendor" / "redoc" / "redoc.standalone.js", JS),
    "redoc/redoc.css": (HERE / "static" / "redoc.css", CSS),
}

SWAGGER_UI_ENDPOINT = "api-docs.openapi_swagger_ui"  # flask-smorest's names for the pages
REDOC_ENDPOINT = "api-docs.openapi_redoc"
_SAME_ORIGIN_ONLY = (
    "default-src 'none'",
    "script-src 'self'",
    "connect-src 'self'",  # the spec, and Swagger UI's "Try it out" against this API
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
    # Both draw their icons (arrows, copy, lock, link) as data: SVGs: loaded from no host.
    "img-src 'self' data:",
)
SWAGGER_UI_CSP = "; ".join((*_SAME_ORIGIN_ONLY, "style-src 'self'"))
# The two inline <style> elements the ReDoc bundle creates, by hash (no 'unsafe-inline'):
# styled-components' sheet, which starts empty and is filled through CSSOM (insertRule, which
# CSP does not govern), and the perfect-scrollbar stylesheet with its source map. A different
# bundle has different hashes: Chromium's console names any style it blocked.
REDOC_STYLE_HASHES = (
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
    "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",
)
REDOC_CSP = "; ".join(
    (
        *_SAME_ORIGIN_ONLY,
        f"style-src 'self' {' '.join(REDOC_STYLE_HASHES)}",
        # The search index runs in a worker that the bundle makes from a blob: URL of its own
        # code; only a script already allowed to run can make one.
        "worker-src blob:",
    )
)

blp = Blueprint("docs_assets", __name__, url_prefix=ASSETS_URL, template_folder="templates")


@cache
def assets_version() -> str:
    """A fingerprint of every asset, put in their URLs (`?v=`): a new bundle gets a new URL,
    so a browser may keep the old one for a year. Computed once, on the first page shown."""
    digest = hashlib.sha256()
    for path, _ in ASSETS.values():
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


blp.add_app_template_global(assets_version, "docs_assets_version")


@blp.route("/<path:name>")
@exempt  # a page load asks for several files; a limit check costs more than sending one
def asset(name: str) -> Response:
    """One file of the docs pages: immutable for a year under the current `?v=`, else
    revalidated (ETag), so a stale link never pins an old file."""
    found = ASSETS.get(name)
    if found is None:
        abort(404)
    path, mimetype = found
    current = request.args.get("v") == assets_version()
    response = send_file(path, mimetype=mimetype, max_age=ONE_YEAR if current else 0, etag=True)
    if current:
        response.cache_control.immutable = True
    else:
        response.cache_control.no_cache = True
    return response


def init_app(app: Flask) -> None:
    """Call before `api.init_app`: Flask searches blueprints' templates in the order they were
    registered, so these pages replace flask-smorest's own."""
    app.register_blueprint(blp)
    observability.set_page_policy(app, SWAGGER_UI_ENDPOINT, SWAGGER_UI_CSP)
    observability.set_page_policy(app, REDOC_ENDPOINT, REDOC_CSP)
