"""Persistence: SQLAlchemy 2.x models, repositories and Alembic migrations.

The bottom layer: it imports neither ``handlers`` nor ``bot``. Repositories take and return
plain values, ORM rows or storage's own small types (``InboundRecord``, ``Member``); its
errors (``StorageUnavailable``, ``RepeatDelivery``) are in ``storage.errors``.
"""
