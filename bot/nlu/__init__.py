"""Chinese NLU helpers: normalisation, rule-based entities, urgency detection."""
