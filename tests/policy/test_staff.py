"""The console's roster (policy/staff.yml): roles, approval limits, own tokens, refusals."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from bot.policy import sla as sla_module
from bot.policy.schema import PolicyError
from bot.policy.staff import load_staff

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = yaml.safe_load((ROOT / "policy" / "staff.yml").read_text(encoding="utf-8"))


def _roster(tmp_path: Path, **changes: object):  # type: ignore[no-untyped-def]
    raw = {**SHIPPED, **changes}
    path = tmp_path / "staff.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return load_staff(path)


def test_listed_names_get_their_role_and_others_the_default() -> None:
    roster = load_staff()
    assert roster.person("王经理").role == "manager"
    assert roster.person("李主管").sees_supervisor_queue and roster.person("李主管").sees_all_cases
    stranger = roster.person("小张")
    assert (stranger.role, stranger.sees_supervisor_queue, stranger.sees_all_cases) == ("agent", False, False)


def test_approval_limits_come_from_the_options_authority() -> None:
    roster = load_staff()
    assert roster.person("小张").approval_limit(500, 2000) == 500
    assert roster.person("王经理").approval_limit(500, 2000) == 2000
    assert roster.person("王经理").approval_limit(300, 1000) == 1000  # a shop that changes options.yml
    assert roster.who_can_approve("manager") == ["王经理", "李主管"]


def test_the_shared_token_logs_anyone_in_unless_they_have_their_own(tmp_path: Path) -> None:
    own = "-own-token-of-the-manager"
    roster = _roster(
        tmp_path,
        staff={"王经理": {"role": "manager", "token_sha256": hashlib.sha256(own.encode()).hexdigest()}},
    )
    assert roster.authenticate("小张", "shared", "shared").role == "agent"
    assert roster.authenticate("小张", "wrong", "shared") is None
    assert roster.authenticate("王经理", "shared", "shared") is None  # nobody else can act as the manager
    assert roster.authenticate("王经理", own, "shared").role == "manager"
    assert roster.authenticate("小张", "", "") is None
    assert roster.authenticate("小张", "x", "") is None  # no shared token configured: refused
    assert roster.authenticate("", "shared", "shared") is None
    assert roster.authenticate("长" * 65, "shared", "shared") is None


@pytest.mark.parametrize(
    "changes, problem",
    [
        ({"default_role": "boss"}, "default_role: unknown role 'boss'"),
        ({"staff": {"小王": {"role": "boss"}}}, "staff.小王.role: unknown role 'boss'"),
        ({"staff": {"小王": {"role": "agent", "token_sha256": "plain-token"}}}, "not the token itself"),
        ({"roles": {"agent": SHIPPED["roles"]["agent"]}}, "roles must be exactly"),
    ],
)
def test_a_broken_roster_names_the_key(tmp_path: Path, changes: dict[str, object], problem: str) -> None:
    with pytest.raises(PolicyError, match=problem):
        _roster(tmp_path, **changes)


@pytest.mark.parametrize(
    "left, level",
    [(20 * 60, "ok"), (4 * 60, "amber"), (0.5, "amber"), (0, "red"), (-60, "red")],
)
def test_the_console_countdown_turns_amber_then_red(left: float, level: str) -> None:
    now = 1_000_000.0
    state = sla_module.countdown(now + left, now + left - 60 * 60, now)
    assert state["level"] == level
    assert state["seconds_left"] == round(left, 1)


def test_amber_starts_at_a_quarter_of_a_long_window() -> None:
    now = 1_000_000.0
    started = now - 90 * 60  # a two-hour window with 30 minutes left: a quarter
    assert sla_module.countdown(now + 30 * 60, started, now)["level"] == "amber"
    assert sla_module.countdown(now + 31 * 60, started, now)["level"] == "ok"


def test_without_the_shared_token_only_own_tokens_log_in(tmp_path: Path) -> None:
    own = "token-of-xiaozhang"
    roster = _roster(
        tmp_path,
        shared_token_logs_in=False,
        staff={"小张": {"role": "agent", "token_sha256": hashlib.sha256(own.encode()).hexdigest()}},
    )
    assert roster.authenticate("小张", own, "shared").name == "小张"
    assert roster.authenticate("小刘", "shared", "shared") is None
