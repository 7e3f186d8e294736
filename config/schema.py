"""The project's GraphQL schema: every app's root types composed in one place.

To add an app's fields, inherit its ``Query``/``Mutation`` here. The
``Subscription`` type (progress app) is served over websockets at /graphql
(graphql-transport-ws, see progress/consumer.py).
"""

import graphene

import jobs.schema
import progress.schema


class Query(jobs.schema.Query, progress.schema.Query, graphene.ObjectType):
    pass


class Mutation(jobs.schema.Mutation, graphene.ObjectType):
    pass


class Subscription(progress.schema.Subscription, graphene.ObjectType):
    pass


schema = graphene.Schema(query=Query, mutation=Mutation, subscription=Subscription)
