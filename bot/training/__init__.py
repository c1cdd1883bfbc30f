"""The trainers' model lifecycle (issue 11): training jobs in the background (``jobs``), a
candidate compared with the live model (``compare``), the live-model pointer with activation
and rollback (``models``). May import Rasa; the plain logic it uses is in ``bot/trainer``."""
