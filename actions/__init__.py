"""Custom actions, split by conversation phase. Keep them thin: logic lives in ``bot``."""

from bot.privacy import install_log_masking

# The action server configures its log handlers before it imports this package: from here on
# phone numbers, ID numbers and addresses are masked in everything it logs.
install_log_masking()

# The action server imports this package when it starts: a broken policy file (policy/*.yml)
# stops it here with the lines `make check-policy` prints, not at the first customer's action.
from bot.policy.check import load_policy  # noqa: E402

load_policy()
