"""Platform wire formats. Each module translates between one platform's wire and
``bot.messages``; nothing here touches storage or handlers."""
