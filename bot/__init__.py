"""edubot: forum scoring, report deadlines and digests in WeCom and DingTalk groups.

Package layout (the layers you can see in the folders):

- ``bot``       runtime: config, HTTP app, platform wire formats, outbox, scheduler, emulator, CLI
- ``handlers``  application: text -> command parsing, command handlers, pure domain rules
- ``storage``   persistence: SQLAlchemy models, repositories, config sync, Alembic migrations

Nothing is done at import time.
"""
