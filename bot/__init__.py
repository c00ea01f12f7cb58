"""edubot: venue scoring, report deadlines and digests in WeCom and DingTalk groups.

Package layout (the layers you can see in the folders):

- ``bot``       runtime: config and its sync into the database, HTTP app, platforms (wire
                formats, crypto, senders, long connections), dispatcher, outbox,
                scheduler, CLI; apart from
                it, ``bot.devtools`` holds the developer tools (emulator, demo, terminal chat)
- ``handlers``  application: text -> command parsing, command handlers, pure domain rules,
                the shared message and error types
- ``storage``   persistence: SQLAlchemy models, repositories, Alembic migrations

Imports run one way, bot -> handlers -> storage (``tests/test_structure.py`` keeps it so).
Nothing is done at import time.
"""
