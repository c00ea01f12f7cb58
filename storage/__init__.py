"""Persistence: SQLAlchemy 2.x models, repositories, config sync and Alembic migrations."""
