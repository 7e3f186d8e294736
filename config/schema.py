"""The project's GraphQL schema: every app's root types composed in one place.

To add an app's fields, inherit its ``Query``/``Mutation`` here; a
``Subscription`` type joins through ``graphene.Schema(subscription=...)``.
"""

import graphene

import jobs.schema


class Query(jobs.schema.Query, graphene.ObjectType):
    pass


class Mutation(jobs.schema.Mutation, graphene.ObjectType):
    pass


schema = graphene.Schema(query=Query, mutation=Mutation)
