"""Platform wire formats. Each module translates between one platform's wire and
``handlers.messages``; nothing here touches storage or handlers."""
