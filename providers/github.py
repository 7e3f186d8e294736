"""GitHub: a report on one repository (metadata, languages, releases, contributors).

REST v3: ``/repos/{owner}/{repo}``, ``/languages``, and the paginated
``/releases`` and ``/contributors`` (``per_page=&page=``). With a token in
settings (``GITHUB_TOKEN``) the rate limit is 5,000 requests an hour
instead of 60. One progress step per request.

Pagination counts pages itself instead of following ``Link`` URLs: a URL
taken from a response could name another host, and hosts come from settings.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from providers.settings import ProviderSettings

from .base import Provider
from .http import ClientPool, Endpoint, Progress, Reply, UpstreamClient, malformed
from .schema import Schema, params_object

REPO_PATTERN = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/(?!\.\.?$)[A-Za-z0-9._-]{1,100}"
"""``owner/repo`` as GitHub allows them; ``.`` and ``..`` are not repo names."""

API_VERSION = "2022-11-28"
"""Pinned so a new GitHub API version cannot change the shapes we read."""

SCHEMA = Schema(
    params_object(
        {
            "repo": {
                "type": "string",
                "description": "The repository, as owner/repo",
                "examples": ["octocat/Hello-World"],
                "minLength": 1,
                "maxLength": 140,
                "pattern": f"^{REPO_PATTERN}$",
                "format": "owner/repo",
                "x-messages": {"pattern": "must be owner/repo, such as octocat/Hello-World"},
            },
            "releases": {
                "type": "integer",
                "description": "Most recent releases",
                "default": 10,
                "minimum": 0,
                "maximum": 100,
            },
            "contributors": {
                "type": "integer",
                "description": "Top contributors, by commits",
                "default": 30,
                "minimum": 0,
                "maximum": 500,
            },
            "page_size": {
                "type": "integer",
                "description": "Items per request",
                "default": 100,
                "minimum": 1,
                "maximum": 100,
            },
        },
        required=["repo"],
    )
)


def endpoint(config: ProviderSettings) -> Endpoint:
    headers = [("Accept", "application/vnd.github+json"), ("X-GitHub-Api-Version", API_VERSION)]
    if config.github_token:
        headers.append(("Authorization", f"Bearer {config.github_token}"))
    return Endpoint(
        "GitHub", config.github_url, config.timeout, config.connect_timeout, tuple(headers)
    )


def _repository(data: Any, service: str) -> dict[str, Any]:
    if not isinstance(data, dict) or "full_name" not in data:
        raise malformed(service, "a repository without full_name")
    license_ = data.get("license") or {}
    return {
        "full_name": data["full_name"],
        "description": data.get("description"),
        "html_url": data.get("html_url"),
        "homepage": data.get("homepage") or None,
        "default_branch": data.get("default_branch"),
        "language": data.get("language"),
        "license": license_.get("spdx_id") if isinstance(license_, dict) else None,
        "topics": list(data.get("topics") or []),
        "stars": data.get("stargazers_count"),
        "forks": data.get("forks_count"),
        "watchers": data.get("subscribers_count", data.get("watchers_count")),
        "open_issues": data.get("open_issues_count"),
        "archived": bool(data.get("archived")),
        "fork": bool(data.get("fork")),
        "created_at": data.get("created_at"),
        "updated_at": data.get("updated_at"),
        "pushed_at": data.get("pushed_at"),
    }


def _languages(data: Any, service: str) -> list[dict[str, Any]]:
    if not isinstance(data, dict):
        raise malformed(service, "languages that are not an object")
    total = sum(v for v in data.values() if isinstance(v, int)) or 1
    return [
        {"name": name, "bytes": size, "percent": round(100 * size / total, 1)}
        for name, size in sorted(data.items(), key=lambda kv: -kv[1])
        if isinstance(size, int)
    ]


def _release(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "tag": item.get("tag_name"),
        "name": item.get("name") or item.get("tag_name"),
        "published_at": item.get("published_at"),
        "prerelease": bool(item.get("prerelease")),
        "draft": bool(item.get("draft")),
        "url": item.get("html_url"),
    }


def _contributor(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "login": item.get("login"),
        "contributions": item.get("contributions"),
        "type": item.get("type"),
        "url": item.get("html_url"),
    }


class _Steps:
    """Progress over a plan that shrinks when a list ends before its planned pages."""

    def __init__(self, progress: Progress, plan: dict[str, int]) -> None:
        self.progress = progress
        self.plan = dict(plan)
        self.done = 0

    def step(self, message: str) -> None:
        self.done += 1
        self.progress(self.done, sum(self.plan.values()), message)

    def shrink(self, part: str, pages: int) -> None:
        self.plan[part] = pages


def _pages(
    client: UpstreamClient,
    segments: tuple[str, ...],
    wanted: int,
    size: int,
    part: str,
    steps: _Steps,
    convert: Callable[[dict[str, Any]], dict[str, Any]],
    not_found: str,
) -> tuple[list[dict[str, Any]], Reply | None]:
    items: list[dict[str, Any]] = []
    reply = None
    planned = math.ceil(wanted / size)
    for page in range(1, planned + 1):
        reply = client.get_json(segments, {"per_page": size, "page": page}, not_found=not_found)
        batch = reply.data if reply.data is not None else []  # 204: nothing there
        if not isinstance(batch, list):
            raise malformed(client.service, f"{part} that are not a list")
        items.extend(
            convert(item) for item in batch[: wanted - len(items)] if isinstance(item, dict)
        )
        short = len(batch) < size or len(items) >= wanted
        if short:
            steps.shrink(part, page)
        steps.step(f"{part}: page {page}, {len(items)} so far")
        if short:
            break
    return items, reply


def _rate_limit(reply: Reply | None) -> dict[str, Any] | None:
    if reply is None or "x-ratelimit-limit" not in reply.headers:
        return None
    h = reply.headers
    as_int = lambda v: int(v) if v and v.isdigit() else None  # noqa: E731
    return {
        "limit": as_int(h.get("x-ratelimit-limit")),
        "remaining": as_int(h.get("x-ratelimit-remaining")),
        "reset": as_int(h.get("x-ratelimit-reset")),
    }


def execute(
    params: dict[str, Any],
    progress: Progress,
    config: ProviderSettings,
    pool: ClientPool | None = None,
) -> dict[str, Any]:
    client = UpstreamClient(endpoint(config), pool)
    full = params["repo"]
    owner, name = full.split("/", 1)
    base = ("repos", owner, name)
    missing = f"repository {full} not found"
    size = params["page_size"]
    steps = _Steps(
        progress,
        {
            "repository": 1,
            "languages": 1,
            "releases": math.ceil(params["releases"] / size),
            "contributors": math.ceil(params["contributors"] / size),
        },
    )
    reply = client.get_json(base, not_found=missing)
    repository = _repository(reply.data, client.service)
    steps.step(f"{repository['full_name']}: metadata")
    last = client.get_json((*base, "languages"), not_found=missing)
    languages = _languages(last.data, client.service)
    steps.step(f"languages: {len(languages)}")
    releases, r1 = _pages(
        client,
        (*base, "releases"),
        params["releases"],
        size,
        "releases",
        steps,
        _release,
        missing,
    )
    contributors, r2 = _pages(
        client,
        (*base, "contributors"),
        params["contributors"],
        size,
        "contributors",
        steps,
        _contributor,
        missing,
    )
    latest = next((r for r in releases if not r["draft"] and not r["prerelease"]), None)
    return {
        "provider": "github",
        "repository": repository,
        "languages": languages,
        "releases": releases,
        "contributors": contributors,
        "summary": {
            "releases": len(releases),
            "contributors": len(contributors),
            "latest_release": latest["tag"] if latest else None,
            "top_language": languages[0]["name"] if languages else None,
            "top_contributor": contributors[0]["login"] if contributors else None,
        },
        "rate_limit": _rate_limit(r2 or r1 or last),
    }


PROVIDER = Provider(
    name="github",
    title="GitHub repository report",
    description="Metadata, languages, recent releases and top contributors of a GitHub "
    "repository (owner/repo).",
    schema=SCHEMA,
    execute=execute,
)
run = PROVIDER.run
