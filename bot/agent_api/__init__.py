"""The agents' HTTP API under /api, mounted on Rasa's port."""
