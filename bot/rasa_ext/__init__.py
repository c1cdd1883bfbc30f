"""Everything that bends Rasa 3.6: patches, failed-action guard, lock store."""
