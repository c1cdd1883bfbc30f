"""Who works the agents' console and what each role may do (``policy/staff.yml``, issue 12).

    roster = load_staff()
    person = roster.authenticate("王经理", token, shared_token)   # Staff or None
    person.role, person.can_approve(1500.0, authority)           # "manager", True

Roles (``roles:`` in the file): ``agent``, ``manager`` (approves up to options.yml
``authority.manager_max``, ¥2000 as shipped) and ``supervisor`` (also sees the supervisor queue and
the cases other agents hold). What a role may approve is named by an approver level of
options.yml ``authority`` (``bot`` = ``bot_max``, ``manager`` = ``manager_max``), so the amounts
stay in one file (SPEC.md section 4, Authority: "the limits are configuration, not code").

Plain Python: validated with pydantic 1.10 through :func:`bot.policy.schema.load_yaml`.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import root_validator, validator

from bot.policy import schema

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "policy" / "staff.yml"
"""Where the roster lives unless ``POLICY_STAFF`` or a ``path`` says otherwise."""

ENV_VAR = "POLICY_STAFF"
"""Environment variable that overrides :data:`DEFAULT_PATH`."""

ROLES = ("agent", "manager", "supervisor")
"""The console's roles, least rights first."""

MAX_NAME = 64
"""Longest staff name, in characters."""


class RoleSpec(schema.Strict):
    """One role: its Chinese label and rights."""

    label: str
    approves_up_to: Literal["bot", "manager"]
    sees_supervisor_queue: bool
    sees_all_cases: bool


class StaffSpec(schema.Strict):
    """One listed person: a role and, optionally, the SHA-256 (hex) of their own token."""

    role: str
    token_sha256: Optional[str] = None

    @validator("token_sha256")
    def _hex_digest(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and (len(value) != 64 or any(c not in "0123456789abcdef" for c in value.lower())):
            raise ValueError("must be the 64 hex digits of a SHA-256 digest, not the token itself")
        return value.lower() if value else value


class StaffFile(schema.Strict):
    """The shape of ``policy/staff.yml``."""

    roles: dict[str, RoleSpec]
    default_role: str
    shared_token_logs_in: bool = True
    staff: dict[str, StaffSpec] = {}

    @validator("roles")
    def _every_role(cls, value: dict[str, RoleSpec]) -> dict[str, RoleSpec]:
        missing = [r for r in ROLES if r not in value]
        unknown = [r for r in value if r not in ROLES]
        if missing or unknown:
            raise ValueError(f"roles must be exactly {', '.join(ROLES)} (missing {missing}, unknown {unknown})")
        return value

    @root_validator(skip_on_failure=True)
    def _known_roles(cls, values: dict[str, object]) -> dict[str, object]:
        problems: list[tuple[tuple[Any, ...], str]] = []
        if values["default_role"] not in ROLES:
            problems.append((("default_role",), f"unknown role {values['default_role']!r}"))
        staff = values.get("staff") or {}
        assert isinstance(staff, dict)
        for name, spec in staff.items():
            if spec.role not in ROLES:
                problems.append((("staff", name, "role"), f"unknown role {spec.role!r}; expected {', '.join(ROLES)}"))
            if len(name) > MAX_NAME:
                problems.append((("staff", name), f"name longer than {MAX_NAME} characters"))
        if problems:
            raise schema.fail(cls, *problems)
        return values


@dataclass(frozen=True)
class Staff:
    """A logged-in person.

    Attributes:
        name: The name they logged in with (what tickets and cases record).
        role: ``agent``, ``manager`` or ``supervisor``.
        role_label: The role in Chinese.
        approves_up_to: The approver level of options.yml ``authority`` (``bot`` or ``manager``).
        sees_supervisor_queue: May see and claim cases of the supervisor queue.
        sees_all_cases: May open cases other agents hold (reading only).
    """

    name: str
    role: str
    role_label: str
    approves_up_to: str
    sees_supervisor_queue: bool
    sees_all_cases: bool

    def approval_limit(self, bot_max: float, manager_max: float) -> float:
        """The largest amount (yuan) this person may approve, given options.yml ``authority``."""
        return manager_max if self.approves_up_to == "manager" else bot_max


@dataclass(frozen=True)
class Roster:
    """The validated roster."""

    spec: StaffFile

    def person(self, name: str) -> Staff:
        """The rights of ``name`` (the default role when not listed)."""
        listed = self.spec.staff.get(name)
        role = listed.role if listed else self.spec.default_role
        rights = self.spec.roles[role]
        return Staff(
            name=name,
            role=role,
            role_label=rights.label,
            approves_up_to=rights.approves_up_to,
            sees_supervisor_queue=rights.sees_supervisor_queue,
            sees_all_cases=rights.sees_all_cases,
        )

    def authenticate(self, name: str, token: str, shared_token: str) -> Optional[Staff]:
        """The person, when ``token`` is theirs: their own token if they have one, else the shared one.

        Comparisons are constant-time (``hmac.compare_digest``). An empty ``shared_token`` (no
        ``BOT_API_TOKEN`` configured), or ``shared_token_logs_in: false`` in the file, refuses
        everyone without a token of their own.
        """
        if not name or len(name) > MAX_NAME or not token:
            return None
        listed = self.spec.staff.get(name)
        if listed is not None and listed.token_sha256:
            digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
            return self.person(name) if hmac.compare_digest(digest, listed.token_sha256) else None
        if not self.spec.shared_token_logs_in:
            return None
        if shared_token and hmac.compare_digest(token.encode("utf-8"), shared_token.encode("utf-8")):
            return self.person(name)
        return None

    def who_can_approve(self, level: str) -> list[str]:
        """The listed names whose role approves up to ``level`` (``bot`` or ``manager``)."""
        wanted = ("bot", "manager") if level == "bot" else ("manager",)
        return [n for n, s in self.spec.staff.items() if self.spec.roles[s.role].approves_up_to in wanted]

    def roles_for(self, level: str) -> list[str]:
        """The Chinese labels of the roles that approve up to ``level``."""
        wanted = ("bot", "manager") if level == "bot" else ("manager",)
        return [r.label for r in self.spec.roles.values() if r.approves_up_to in wanted]


def staff_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The roster to read: ``path``, else ``$POLICY_STAFF``, else :data:`DEFAULT_PATH`."""
    return Path(path or os.environ.get(ENV_VAR) or DEFAULT_PATH).resolve()


@functools.lru_cache(maxsize=8)
def _load(path: str) -> Roster:
    return Roster(schema.load_yaml(Path(path), StaffFile))


def load_staff(path: str | os.PathLike[str] | None = None) -> Roster:
    """Loads and validates the roster (cached per file).

    Raises:
        FileNotFoundError: The file does not exist.
        PolicyError: (a ``ValueError``) the file breaks the schema (unknown role, token not a digest...).
    """
    return _load(str(staff_path(path)))
