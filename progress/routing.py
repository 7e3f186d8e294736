"""Websocket routes of the project (mounted by config/asgi.py)."""

from django.urls import path

from progress.consumer import GraphQLWSConsumer

websocket_urlpatterns = [path("graphql", GraphQLWSConsumer.as_asgi())]
