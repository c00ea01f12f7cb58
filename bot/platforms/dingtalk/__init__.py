"""DingTalk (钉钉): everything that knows this platform's wire.

::

    callback        the robot's HTTP callback behind bot.platforms.inbound.Callback
    stream          Stream mode: the same messages over a connection we open (no public URL)
    wire            the app robot's callback body in
    sign            HMAC-SHA256 signatures, inbound and outbound
    app_sender      the app robot's OpenAPI pushes (and its access token)
    robot_sender    the custom group robot and the sessionWebhook
    render          OutboundMessage → the JSON body each sender posts
    media           downloading the files people send

Nothing is imported here: import the module you need.
"""
