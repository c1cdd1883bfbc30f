"""Custom actions, split by conversation phase. Keep them thin: logic lives in ``bot``."""

from bot.privacy import install_log_masking

# The action server configures its log handlers before it imports this package: from here on
# phone numbers, ID numbers and addresses are masked in everything it logs.
install_log_masking()
