"""The jobs app's part of the GraphQL schema, composed in ``config/schema.py``.

Other apps add their root fields the same way (the progress app adds a
``Subscription`` type): ``class Query(jobs.schema.Query, theirs.Query)``.
"""

from jobs.api.mutations import Mutation
from jobs.api.queries import Query

__all__ = ["Mutation", "Query"]
