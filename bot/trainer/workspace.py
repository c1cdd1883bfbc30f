"""Where the trainers' workbench reads and writes: one project folder (issue 11).

Everything a trainer's work touches lives under one root, so tests and staging copies never write
into the checkout the live model was trained from:

- ``data/`` — the training data; saved examples go to ``data/nlu/trainer/<intent>.yml``, saved
  stories and rules to ``data/stories/trainer/``; the audit log is ``data/trainer_audit.jsonl``;
- ``domain.yml``, ``config.yml`` — read, never written;
- ``tests/trainer_stories/`` — the test stories trainers save (``test_*.yml``, Rasa's naming);
- ``models/`` — trained models; candidates of the workbench's training jobs in
  ``models/candidates/``, the model trainers made live in ``models/active.json``;
- ``reports/trainer/`` — comparisons of a candidate with the live model;
- ``var/trainer/`` — jobs, imports and the save lock (not versioned).

The root is ``TRAINER_ROOT`` from the environment, else the current directory (the project root,
where ``make run`` starts the server).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "TRAINER_ROOT"


@dataclass(frozen=True)
class Workspace:
    """The project folder the workbench works in (see the module docstring for the layout)."""

    root: Path

    @classmethod
    def from_env(cls) -> Workspace:
        """``TRAINER_ROOT``, else the current directory."""
        return cls(Path(os.environ.get(ENV_VAR) or os.getcwd()).resolve())

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def domain(self) -> Path:
        return self.root / "domain.yml"

    @property
    def config(self) -> Path:
        return self.root / "config.yml"

    @property
    def test_stories_dir(self) -> Path:
        return self.root / "tests" / "trainer_stories"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def candidates_dir(self) -> Path:
        return self.models_dir / "candidates"

    @property
    def active_file(self) -> Path:
        return self.models_dir / "active.json"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports" / "trainer"

    @property
    def var_dir(self) -> Path:
        return self.root / "var" / "trainer"
