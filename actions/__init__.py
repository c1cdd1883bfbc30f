"""Custom actions, split by conversation phase. Keep them thin: logic lives in ``bot``."""
