"""Rasa input channels (connectors) for the shop's customer-facing platforms."""
