"""Use cases shared by the channels, the agents' API and the follow-up timer."""
