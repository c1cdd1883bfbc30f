"""``make check-policy``: load and validate every policy file, print OK or every problem.

    python -m bot.policy.check            # policy/*.yml (or $SLA_CONFIG, $POLICY_LABELS, $POLICY_OPTIONS, $POLICY_STAFF)
    python -m bot.policy.check --policy-dir some/folder

Exit status 0 when all files are valid, 1 otherwise; each problem is printed as
``<file>: <key path>: <problem>`` (:class:`bot.policy.schema.PolicyError`). Both servers call
:func:`load_policy` at start-up, so a broken file stops them with the same lines.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from bot.policy import catalogue, labels, schema, sla, staff


@dataclass(frozen=True)
class Policy:
    """The shop's policy, loaded and validated."""

    labels: schema.LabelsFile
    sla: sla.SlaConfig
    catalogue: catalogue.Catalogue
    staff: staff.Roster


def load_policy(folder: str | Path | None = None) -> Policy:
    """Loads ``labels.yml``, ``sla.yml``, ``options.yml`` and ``staff.yml`` (from ``folder``, else the defaults).

    Raises:
        FileNotFoundError: A file is missing.
        PolicyError: (a ``ValueError``) a file is invalid; the message names file, key and problem.
    """
    where = Path(folder) if folder is not None else None
    labels_file = where / "labels.yml" if where else None
    return Policy(
        labels=labels.load_labels(labels_file),
        sla=sla.load_sla(where / "sla.yml" if where else None, labels=labels_file),
        catalogue=catalogue.load_catalogue(where / "options.yml" if where else None, labels=labels_file),
        staff=staff.load_staff(where / "staff.yml" if where else None),
    )


def main(argv: list[str] | None = None) -> int:
    """Prints ``OK`` and the files checked, or every problem; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m bot.policy.check", description=__doc__.splitlines()[0])
    parser.add_argument("--policy-dir", help="a folder with labels.yml, sla.yml and options.yml")
    args = parser.parse_args(argv)
    problems: list[str] = []
    for step in ("labels", "sla", "options", "staff"):
        try:
            folder = Path(args.policy_dir) if args.policy_dir else None
            if step == "labels":
                labels.load_labels(folder / "labels.yml" if folder else None)
            elif step == "sla":
                sla.load_sla(folder / "sla.yml" if folder else None, labels=folder / "labels.yml" if folder else None)
            elif step == "staff":
                staff.load_staff(folder / "staff.yml" if folder else None)
            else:
                catalogue.load_catalogue(
                    folder / "options.yml" if folder else None, labels=folder / "labels.yml" if folder else None
                )
        except (OSError, ValueError) as error:
            problems.append(str(error))
    if problems:
        print("\n".join(dict.fromkeys(problems)), file=sys.stderr)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
