"""Business rules a shop owner configures (policy/*.yml): plain Python, no Rasa, no Redis."""
