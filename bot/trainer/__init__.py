"""The trainers' workbench (SPEC.md section 8, issue 11): reviewing real conversations and turning
corrections into training data. Plain Python: no Rasa, no Redis, no Sanic."""
