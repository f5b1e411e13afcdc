"""`GET /feed.xml` (Atom) and `GET /sitemap.xml`: cached, with ETag and 304."""

from __future__ import annotations

from flask import Response

from api import response_cache
from api.contract import Blueprint
from api.feeds import service
from api.ratelimits import exempt
from api.security import public

blp = Blueprint("feeds", __name__, description="The blog's Atom feed and the sitemap.")

ATOM_TYPE = "application/atom+xml"
SITEMAP_TYPE = "application/xml"


@blp.route("/feed.xml", endpoint="atom")
@public
@exempt  # cache hits are cheaper than a limit check; misses are charged
@blp.doc(responses={200: {"description": "Atom 1.0: the 20 newest published posts."}})
def atom() -> Response:
    """The blog as an Atom feed."""
    return response_cache.json_response(*service.cached_feed(), mimetype=ATOM_TYPE)


@blp.route("/sitemap.xml", endpoint="sitemap")
@public
@exempt
@blp.doc(responses={200: {"description": "sitemaps.org 0.9: posts and destinations."}})
def sitemap() -> Response:
    """Every public page a search engine should know: published posts and destinations."""
    return response_cache.json_response(*service.cached_sitemap(), mimetype=SITEMAP_TYPE)
