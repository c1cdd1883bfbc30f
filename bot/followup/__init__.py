"""The follow-up timer: escalation of unclaimed cases and progress messages (SPEC.md sections 5-7)."""
