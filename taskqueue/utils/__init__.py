"""Helpers under the import paths Celery users know (``celery.utils.log``)."""
