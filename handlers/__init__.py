"""The application layer: what a chat message asks for and what the bot does about it.

- parsing: text → command values (``parsing``, ``numbers``, ``commands``), pure;
- handlers: one plain function per command (``registry`` maps command type → handler),
  working inside the transaction the runtime opened, through ``storage``'s repositories;
- domain rules: rubric checks, results and ranking, deadlines and working days, pure;
- the neutral types every layer above storage shares: ``messages`` (InboundMessage, Reply,
  OutboundMessage), ``errors`` (BotError), ``text`` (UTF-8 sizes, splitting, offsets).

Imports run one way: ``bot`` → ``handlers`` → ``storage``. Nothing here imports ``bot``, a
web framework, wechatpy or httpx; what the runtime knows (the platforms' size limits, the
file fetchers) reaches a handler through its ``Context``.
"""
