"""WeCom (企业微信): everything that knows this platform's wire.

::

    callback        the app and robot callbacks behind bot.platforms.inbound.Callback
    longconn        the robot's long connection: its messages without a public URL
    wire            callback bodies in (app XML, robot JSON) and passive answers out
    crypto          the callback signature and AES envelope
    app_sender      app messages to one person (wechatpy)
    webhook_sender  the group robot's webhook
    render          OutboundMessage → the JSON body each sender posts
    media           downloading the files people send

Nothing is imported here: import the module you need.
"""
