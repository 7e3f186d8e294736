"""Storage seams of the framework: live state and durable results.

Each store is an interface with a real implementation and an in-memory one
that behaves the same, so fast tests run without services. Only the
implementations touch a Redis client or a Mongo collection.
"""
