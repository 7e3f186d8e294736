"""GitHub REST look-alike: a repository, its languages, releases and contributors.

Every ``owner/repo`` exists and is generated from its name (same name, same
data); releases and contributors are paginated with ``per_page``/``page``
and a ``Link`` header, and every answer carries ``X-RateLimit-*`` headers.
The token ``bad-token`` is refused with 401, as GitHub refuses bad ones.

Triggers: the owner ``sandbox`` with the repository named after a fault,
``sandbox/<fault>[-suffix]`` (``sandbox/not-found`` -> 404). The fault plays
on the repository request, the first of a report.
"""

from __future__ import annotations

import datetime as dt
import random
import zlib
from typing import Any

from .core import Fault, FaultBook, Request, Response, delayed, json_error, parse_fault

LANGUAGES = ["Python", "TypeScript", "Go", "Rust", "C", "JavaScript", "Shell", "HTML", "CSS"]
TOPICS = ["cli", "http", "async", "database", "kafka", "parser", "testing", "devtools", "api"]
_ADJ = ["brave", "quiet", "rapid", "lucky", "clever", "sunny", "mellow", "bold", "tidy"]
_NOUN = ["otter", "falcon", "maple", "comet", "badger", "harbor", "pixel", "lynx", "cedar"]
NOT_FOUND = {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}


def _rng(full_name: str, what: str) -> random.Random:
    return random.Random(f"gh:{full_name.lower()}:{what}")


def _counts(full_name: str) -> tuple[int, int]:
    """How many releases and contributors this repository has."""
    rng = _rng(full_name, "counts")
    return rng.randint(3, 75), rng.randint(5, 260)


def repository(owner: str, name: str, api: str) -> dict[str, Any]:
    full = f"{owner}/{name}"
    rng = _rng(full, "repo")
    created = dt.datetime(2012, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=rng.randint(0, 3600))
    pushed = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(
        hours=rng.randint(1, 900)
    )
    stars = int(rng.paretovariate(1.2) * 40)
    return {
        "id": zlib.crc32(full.lower().encode()),
        "node_id": f"R_kgDO{zlib.crc32(full.encode()):08X}",
        "name": name,
        "full_name": full,
        "private": False,
        "owner": {
            "login": owner,
            "id": zlib.crc32(owner.encode()) % 10**8,
            "type": "User",
            "html_url": f"https://github.com/{owner}",
        },
        "html_url": f"https://github.com/{full}",
        "description": f"{name.replace('-', ' ').capitalize()}: a {rng.choice(TOPICS)} toolkit",
        "fork": False,
        "url": f"{api}/repos/{full}",
        "created_at": created.isoformat().replace("+00:00", "Z"),
        "updated_at": pushed.isoformat().replace("+00:00", "Z"),
        "pushed_at": pushed.isoformat().replace("+00:00", "Z"),
        "homepage": f"https://{owner.lower()}.github.io/{name}" if rng.random() < 0.4 else "",
        "size": rng.randint(200, 90000),
        "stargazers_count": stars,
        "watchers_count": stars,
        "subscribers_count": max(1, stars // 25),
        "language": _languages(full)[0][0],
        "forks_count": stars // rng.randint(4, 12),
        "open_issues_count": rng.randint(0, 180),
        "license": {"key": "mit", "name": "MIT License", "spdx_id": "MIT"},
        "topics": sorted(rng.sample(TOPICS, 3)),
        "default_branch": "main",
        "archived": False,
        "disabled": False,
        "visibility": "public",
    }


def _languages(full: str) -> list[tuple[str, int]]:
    rng = _rng(full, "languages")
    picked = rng.sample(LANGUAGES, rng.randint(1, 4))
    sizes = sorted((rng.randint(2_000, 900_000) for _ in picked), reverse=True)
    return list(zip(picked, sizes, strict=True))


def _releases(full: str, count: int) -> list[dict[str, Any]]:
    rng = _rng(full, "releases")
    when = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=rng.randint(2, 40))
    major, minor, patch = rng.randint(1, 4), rng.randint(0, 12), rng.randint(0, 6)
    out = []
    for i in range(count):
        tag = f"v{major}.{minor}.{patch}"
        pre = rng.random() < 0.1
        if pre:
            tag += "rc1"
        out.append(
            {
                "id": zlib.crc32(f"{full}:{tag}:{i}".encode()),
                "tag_name": tag,
                "name": f"Release {tag}",
                "draft": False,
                "prerelease": pre,
                "created_at": when.isoformat().replace("+00:00", "Z"),
                "published_at": when.isoformat().replace("+00:00", "Z"),
                "html_url": f"https://github.com/{full}/releases/tag/{tag}",
            }
        )
        when -= dt.timedelta(days=rng.randint(5, 60))
        if patch > 0:
            patch -= 1
        elif minor > 0:
            minor, patch = minor - 1, rng.randint(0, 5)
        else:
            major, minor, patch = max(major - 1, 0), rng.randint(3, 12), rng.randint(0, 5)
    return out


def _contributors(full: str, count: int) -> list[dict[str, Any]]:
    rng = _rng(full, "contributors")
    commits = sorted((int(rng.paretovariate(1.1) * 3) for _ in range(count)), reverse=True)
    out = []
    for i, n in enumerate(commits):
        login = f"{rng.choice(_ADJ)}-{rng.choice(_NOUN)}{i}"
        out.append(
            {
                "login": login,
                "id": zlib.crc32(login.encode()) % 10**8,
                "html_url": f"https://github.com/{login}",
                "type": "Bot" if i == 3 else "User",
                "contributions": n,
            }
        )
    return out


def _page(request: Request, items: list[dict[str, Any]]) -> Response:
    try:
        per_page = min(max(int(request.query.get("per_page", "30")), 1), 100)
        page = max(int(request.query.get("page", "1")), 1)
    except ValueError:
        return json_error(422, "Validation Failed")
    last = max(1, -(-len(items) // per_page))
    link = f"{request.server_url}{request.prefix}/{'/'.join(request.segments)}"
    links = []
    if page < last:
        links.append(f'<{link}?per_page={per_page}&page={page + 1}>; rel="next"')
        links.append(f'<{link}?per_page={per_page}&page={last}>; rel="last"')
    headers = {"Link": ", ".join(links)} if links else {}
    return Response(200, items[(page - 1) * per_page : page * per_page], headers)


def route(request: Request, faults: FaultBook) -> Response:
    seg = request.segments
    if len(seg) < 3 or seg[0] != "repos" or len(seg) > 4:
        return Response(404, NOT_FOUND)
    owner, name = seg[1], seg[2]
    auth = request.headers.get("authorization", "")
    if auth == "Bearer bad-token":
        return json_error(401, "Bad credentials")
    fault = parse_fault(name) if owner.lower() == "sandbox" else None
    failure = None
    if len(seg) == 3:
        failure = faults.play(fault, f"github:{owner.lower()}/{name.lower()}", request)
        if failure is not None and failure.status:
            return failure
    if fault is Fault.NOT_FOUND:
        return Response(404, NOT_FOUND)
    full = f"{owner}/{name}"
    releases, contributors = _counts(full)
    if len(seg) == 3:
        response = Response(200, repository(owner, name, request.server_url + request.prefix))
    elif seg[3] == "languages":
        response = Response(200, dict(_languages(full)))
    elif seg[3] == "releases":
        response = _page(request, _releases(full, releases))
    elif seg[3] == "contributors":
        response = _page(request, _contributors(full, contributors))
    else:
        return Response(404, NOT_FOUND)
    limit = 5000 if auth else 60
    used = faults.count(f"github-quota:{auth or 'anonymous'}") % limit
    response.headers.update(
        {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(limit - used),
            "X-RateLimit-Reset": str(int(dt.datetime.now(dt.UTC).timestamp()) + 3600),
            "X-RateLimit-Resource": "core",
        }
    )
    return delayed(response, failure)
