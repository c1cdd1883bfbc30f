"""Helpers the tests share: the bot client and a whole stack for it (not runtime code)."""
