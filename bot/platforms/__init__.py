"""The platforms: one folder each, translating between its wire and ``handlers.messages``.

::

    wecom/      WeCom (企业微信): callbacks, robot long connection, crypto, answers,
                senders, media download
    dingtalk/   DingTalk (钉钉): callback, Stream mode, signatures, senders, media download
    inbound     the ``Callback`` port every callback implements, driven by ``bot.app``
    fields      reading untrusted JSON fields (both platforms' callbacks)
    tokens      the access-token cache (both platforms' media downloads and DingTalk's app)
    download    the refusals and limited reads every media download shares
    media       ``PlatformMedia``: the file intakes, one per channel
    router      picks the platform sender for an ``OutboundMessage`` (``build_router``)

Nothing here touches storage or the command handlers. Outbound pushes go through the
``Sender`` port in ``bot.senders``, which also holds the size limits.
"""
