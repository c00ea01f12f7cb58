"""Developer tools around the service, apart from the runtime.

Nothing under ``bot.devtools`` is imported by ``edubot serve``; these modules drive the real
service from outside, the way a user or a platform would:

- ``bot.devtools.emulator``  a loopback WeCom / DingTalk API emulator and the players that
  build the callbacks those platforms POST (``python -m bot.devtools.emulator``); used by
  the tests, the demo and the benchmarks
- ``bot.devtools.demo``      ``edubot demo``: the sample campaign (``sample.toml``) played
  through the real endpoints on an accelerated clock
- ``bot.devtools.chat``      ``edubot chat``: talk to the bot in a terminal as a configured
  person
- ``bot.devtools.serving``   ``LoopbackServer``: an ASGI app on loopback from a thread
"""
