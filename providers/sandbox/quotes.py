"""Quotable look-alike: ``GET /quotes?page=&limit=&tags=&author=``.

The corpus is a few dozen well-known quotes plus generated aphorisms, so
any page size and count up to a few hundred has data. Triggers: an author
named ``sandbox-<fault>[-suffix]``; ``sandbox-not-found`` (or any unknown
author) gives an empty page, as Quotable does.
"""

from __future__ import annotations

import itertools
import math
import random
import re
import zlib
from typing import Any

from .core import Fault, FaultBook, Request, Response, Route, delayed, parse_fault

KNOWN_TEXT = """
Albert Einstein | Imagination is more important than knowledge. | wisdom,famous-quotes
Albert Einstein | Life is like riding a bicycle. To keep your balance you must keep moving. | life
Albert Einstein | The important thing is not to stop questioning. | science,wisdom
Mark Twain | The secret of getting ahead is getting started. | motivational,success
Mark Twain | Kindness is the language which the deaf can hear and the blind can see. | kindness
Confucius | It does not matter how slowly you go as long as you do not stop. | wisdom,motivational
Confucius | Real knowledge is to know the extent of one's ignorance. | wisdom,knowledge
Lao Tzu | A journey of a thousand miles begins with a single step. | famous-quotes,wisdom
Lao Tzu | Knowing others is intelligence; knowing yourself is true wisdom. | wisdom
Aristotle | We are what we repeatedly do. Excellence, then, is not an act, but a habit. | success
Seneca | Luck is what happens when preparation meets opportunity. | success
Seneca | While we are postponing, life speeds by. | life,time
Marcus Aurelius | The happiness of your life depends upon the quality of your thoughts. | life
Marcus Aurelius | Waste no more time arguing what a good man should be. Be one. | virtue
Benjamin Franklin | Well done is better than well said. | motivational
Benjamin Franklin | An investment in knowledge pays the best interest. | knowledge,business
Oscar Wilde | Be yourself; everyone else is already taken. | famous-quotes,life
Oscar Wilde | Experience is simply the name we give our mistakes. | life
Ada Lovelace | The more I study, the more insatiable do I feel my genius for it to be. | science
Marie Curie | Nothing in life is to be feared, it is only to be understood. | science,life
Leonardo da Vinci | Simplicity is the ultimate sophistication. | famous-quotes,wisdom
Heraclitus | No man ever steps in the same river twice. | change,wisdom
Plato | The beginning is the most important part of the work. | motivational
Socrates | The unexamined life is not worth living. | life,famous-quotes
"""
"""Well-known quotes (author | quote | tags), with Quotable-style tags."""

KNOWN = [
    (author, content, tags.split(","))
    for author, content, tags in (
        (part.strip() for part in line.split("|")) for line in KNOWN_TEXT.strip().splitlines()
    )
]

_SUBJECTS = ["Patience", "Curiosity", "Courage", "Kindness", "Practice", "Doubt", "Silence", "Work"]
_VERBS = ["turns", "carries", "shapes", "outlasts", "opens", "sharpens"]
_OBJECTS = [
    "small steps into long journeys",
    "a quiet mind",
    "every closed door",
    "the habits of a lifetime",
    "what talent begins",
    "the longest night",
]
_AUTHORS = ["Ines Moreau", "Tomas Lindqvist", "Amara Okafor", "Kenji Watanabe", "Lucia Ferreira"]
_TAGS = ["wisdom", "life", "motivational", "change", "time", "success"]


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _corpus() -> list[dict[str, Any]]:
    rng = random.Random("quotes")
    items = [(a, c, t) for a, c, t in KNOWN]
    for s, v, o in itertools.product(_SUBJECTS, _VERBS, _OBJECTS):
        if rng.random() < 0.7:
            items.append((rng.choice(_AUTHORS), f"{s} {v} {o}.", rng.sample(_TAGS, 2)))
    return [
        {
            "_id": f"{zlib.crc32(content.encode()):08x}{i:04x}",
            "content": content,
            "author": author,
            "tags": sorted(tags),
            "authorSlug": slug(author),
            "length": len(content),
            "dateAdded": "2021-06-18",
            "dateModified": "2023-04-14",
        }
        for i, (author, content, tags) in enumerate(items)
    ]


CORPUS = _corpus()


def _bad_request(message: str) -> Response:
    return Response(400, {"statusCode": 400, "statusMessage": message})


def quotes(request: Request, faults: FaultBook) -> Response:
    q = request.query
    author = q.get("author", "").strip()
    fault = (
        parse_fault(author[len("sandbox-") :]) if author.lower().startswith("sandbox-") else None
    )
    failure = faults.play(fault, f"quote:{author.lower()}", request)
    if failure is not None and failure.status:
        return failure
    try:
        page, limit = int(q.get("page", "1")), int(q.get("limit", "20"))
    except ValueError:
        return Response(
            400, {"statusCode": 400, "statusMessage": "page and limit must be integers"}
        )
    if page < 1 or not 1 <= limit <= 150:
        return Response(
            400, {"statusCode": 400, "statusMessage": "limit must be between 1 and 150"}
        )
    found = CORPUS
    if fault is not None and fault is not Fault.NOT_FOUND:
        # After its failure a trigger author "wrote" the first quotes, so the
        # retried job succeeds with results that say who was asked for.
        found = [{**item, "author": author, "authorSlug": slug(author)} for item in CORPUS[:30]]
    elif author:
        wanted = {slug(a) for a in author.split("|")}
        found = [item for item in found if item["authorSlug"] in wanted]
    tags = q.get("tags", "")
    if tags:
        if "|" in tags:
            anyof = set(tags.split("|"))
            found = [item for item in found if anyof & set(item["tags"])]
        else:
            allof = set(tags.split(","))
            found = [item for item in found if allof <= set(item["tags"])]
    total = len(found)
    results = found[(page - 1) * limit : page * limit]
    return delayed(
        Response(
            200,
            {
                "count": len(results),
                "totalCount": total,
                "page": page,
                "totalPages": math.ceil(total / limit),
                "lastItemIndex": (page - 1) * limit + len(results) if results else None,
                "results": results,
            },
        ),
        failure,
    )


ROUTES: dict[tuple[str, ...], Route] = {("quotes",): quotes}
