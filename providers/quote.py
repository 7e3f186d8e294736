"""Quotes: N quotes, optionally by tag and author, from a Quotable-style API.

The shape chosen is Quotable's (``GET /quotes?page=&limit=&tags=&author=``,
answering ``{count, totalCount, page, totalPages, results: [...]}``) because
it filters by tag and author on the server; DummyJSON's ``/quotes`` cannot.
``tags`` joined with ``,`` means all of them, with ``|`` any of them. One
progress step per page.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from providers.settings import ProviderSettings

from .base import Provider
from .errors import NotFound
from .http import ClientPool, Endpoint, Progress, UpstreamClient, malformed
from .schema import Schema, params_object

SLUG = r"[a-z0-9]+(?:-[a-z0-9]+)*"
"""Quotable's tag slugs (``famous-quotes``); also keeps ``,`` and ``|`` out."""

SCHEMA = Schema(
    params_object(
        {
            "count": {
                "type": "integer",
                "description": "How many quotes",
                "default": 10,
                "minimum": 1,
                "maximum": 200,
            },
            "tags": {
                "type": "array",
                "description": "Only quotes with these tags",
                "examples": [["wisdom"]],
                "items": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 40,
                    "pattern": f"^{SLUG}$",
                    "format": "slug",
                    "x-messages": {
                        "pattern": "must be a tag slug: lower-case letters, digits and hyphens"
                    },
                },
                "maxItems": 5,
                "uniqueItems": True,
            },
            "match": {
                "type": "string",
                "description": "With several tags: quotes having all of them, or any of them",
                "enum": ["all", "any"],
                "default": "all",
            },
            "author": {
                "type": "string",
                "description": "Only quotes by this author (name or slug)",
                "examples": ["Albert Einstein"],
                "minLength": 1,
                "maxLength": 80,
                "pattern": "^[A-Za-z0-9][A-Za-z0-9 .'-]*$",
                "x-messages": {
                    "pattern": "must be an author name or slug (letters, digits, spaces, . ' -)"
                },
            },
            "page_size": {
                "type": "integer",
                "description": "Quotes fetched per request",
                "default": 25,
                "minimum": 1,
                "maximum": 100,
            },
        }
    )
)


def _quote(item: Any, service: str) -> dict[str, Any]:
    if not isinstance(item, dict) or not isinstance(item.get("content"), str):
        raise malformed(service, "a quote without content")
    return {
        "id": item.get("_id"),
        "content": item["content"],
        "author": item.get("author"),
        "author_slug": item.get("authorSlug"),
        "tags": list(item.get("tags") or []),
        "length": item.get("length", len(item["content"])),
    }


def _describe_filters(params: dict[str, Any]) -> str:
    parts = []
    if params["author"]:
        parts.append(f"by {params['author']!r}")
    if params["tags"]:
        joiner = " and " if params["match"] == "all" else " or "
        parts.append("tagged " + joiner.join(params["tags"]))
    return " ".join(parts)


def execute(
    params: dict[str, Any],
    progress: Progress,
    config: ProviderSettings,
    pool: ClientPool | None = None,
) -> dict[str, Any]:
    client = UpstreamClient(
        Endpoint("Quotes API", config.quotes_url, config.timeout, config.connect_timeout), pool
    )
    wanted, size = params["count"], params["page_size"]
    query: dict[str, Any] = {"limit": size}
    if params["tags"]:
        query["tags"] = ("," if params["match"] == "all" else "|").join(params["tags"])
    if params["author"]:
        query["author"] = params["author"]
    filters = _describe_filters(params)
    quotes: list[dict[str, Any]] = []
    pages = math.ceil(wanted / size)
    available: int | None = None
    page = 0
    while len(quotes) < wanted and page < pages:
        page += 1
        reply = client.get_json(
            ("quotes",), {**query, "page": page}, not_found=f"no quotes found {filters}".strip()
        )
        data = reply.data
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            raise malformed(client.service, "a page without results")
        results = data["results"]
        quotes.extend(_quote(item, client.service) for item in results[: wanted - len(quotes)])
        if isinstance(data.get("totalCount"), int):
            available = data["totalCount"]
        if isinstance(data.get("totalPages"), int):
            # The upstream knows how many pages exist; never plan past them.
            pages = min(pages, data["totalPages"])
        # A short page is the last one, whatever was planned: say 100% there.
        last = len(quotes) >= wanted or page >= pages or len(results) < size
        progress(page, page if last else pages, f"page {page}: {len(quotes)} of {wanted} quotes")
        if last:
            break
    if not quotes and filters:
        raise NotFound(f"no quotes found {filters}", service=client.service)
    authors = Counter(q["author"] for q in quotes if q["author"])
    return {
        "provider": "quote",
        "requested": wanted,
        "count": len(quotes),
        "available": available,
        "filters": {
            "tags": params["tags"] or [],
            "match": params["match"],
            "author": params["author"],
        },
        "quotes": quotes,
        "authors": [{"name": name, "count": n} for name, n in authors.most_common()],
    }


PROVIDER = Provider(
    name="quote",
    title="Quotes",
    description="A number of quotes, optionally by tag and author, from a Quotable-style API.",
    schema=SCHEMA,
    execute=execute,
)
run = PROVIDER.run
