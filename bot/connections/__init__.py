"""Connections the bot opens itself, so that no public URL is needed.

``runner.LongConnection`` keeps one platform session alive beside the web app (a
``Background``): reconnects with backoff and jitter (``backoff``), answers ``/healthz``
with its state and reason, hands over to a fresh session when the platform asks, and,
with a ``Lease``, runs only on the one instance that holds it. The sessions themselves
speak each platform's protocol: ``bot.platforms.dingtalk.stream`` (Stream mode) and
``bot.platforms.wecom.longconn`` (the intelligent robot's long connection).
"""
