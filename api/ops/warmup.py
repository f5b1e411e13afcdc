"""Cache warm-up: fill the public reads visitors hit first, before they do (beat or cron)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from api.blog import service as blog
from api.catalogue import service as catalogue
from api.errors import NotFound
from api.extensions import cache
from api.pagination import DEFAULT_PER_PAGE
from api.reviews import service as reviews
from api.reviews.service import AGENCY

log = logging.getLogger(__name__)

LAST_RUN = "cache-warm:last"
POST_PAGES, POPULAR_POSTS, REVIEW_TARGETS = 3, 10, 10


def warm() -> dict[str, Any]:
    """Build every warm-up key now; returns and records the run's duration and key count."""
    started = time.perf_counter()
    first_page = {"page": 1, "per_page": DEFAULT_PER_PAGE}
    steps: list[Callable[[], Any]] = [
        catalogue.all_destinations,
        lambda: catalogue.cached_list(dict(first_page)),
    ]
    steps += [
        partial(blog.cached_page, {"order": "newest"}, page, DEFAULT_PER_PAGE)
        for page in range(1, POST_PAGES + 1)
    ]
    steps.append(lambda: blog.cached_page({"order": "popular"}, 1, DEFAULT_PER_PAGE))
    steps += [partial(blog.cached_post, slug) for slug in blog.popular_slugs(POPULAR_POSTS)]
    targets = dict.fromkeys([AGENCY, *reviews.most_reviewed(REVIEW_TARGETS)])
    steps += [partial(reviews.cached_summary, target) for target in targets]
    steps.append(lambda: reviews.cached_page(None, 1, DEFAULT_PER_PAGE))
    warmed = 0
    for step in steps:
        try:
            step()
            warmed += 1
        except NotFound:  # e.g. a post unpublished since the list was read
            continue
    report = {
        "keys": warmed,
        "duration_seconds": round(time.perf_counter() - started, 3),
        "finished_at": time.time(),
    }
    cache.set(LAST_RUN, report, timeout=0)
    log.info("cache warm-up: %d keys in %.3fs", warmed, report["duration_seconds"])
    return report


def last_run() -> dict[str, Any] | None:
    return cache.get(LAST_RUN)
