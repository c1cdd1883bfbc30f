"""The house rules judged on the bot's real conversations (docs/transcripts/*.md, `make transcripts`).

Every transcript where the bot behaved as SPEC.md section 4 says passes every rule. A failure here
is either the checker misreading a good reply (fix the checker's kind of expression) or the bot
breaking a rule: those are listed in KNOWN_BOT_FAILURES with the reason, so they stay visible.
"""

from __future__ import annotations

import json

import pytest

from bot.quality import RULES, QualityReport, check_conversation, exempt_texts_from_domain
from tests.quality.transcript_md import TRANSCRIPTS, Transcript, all_transcripts

EXEMPT = exempt_texts_from_domain()

# transcript -> {rule: turn that broke it}: the bot, not the checker, is wrong there.
# (Empty since utter_ack_malicious says "24小时内核实并答复您": it promised a check with no time.)
KNOWN_BOT_FAILURES: dict[str, dict[str, int]] = {}


def _case(transcript: Transcript) -> dict[str, object] | None:
    """The handoff case as far as a transcript shows it: announced, not yet claimed (pending)."""
    handed_over = any("转接" in (e.get("text") or "") for e in transcript.events if e["event"] == "bot")
    if not handed_over:
        return None
    return {"sender_id": transcript.name, "status": "waiting", "deadline": transcript.end + 15 * 60}


def _check(transcript: Transcript) -> QualityReport:
    return check_conversation(
        transcript.events,
        case=_case(transcript),
        tickets=transcript.tickets,
        now=transcript.end + 60,
        exempt_texts=EXEMPT,
        sender_id=transcript.name,
    )


TRANSCRIPT_LIST = all_transcripts()


def test_every_transcript_is_read() -> None:
    assert len(TRANSCRIPT_LIST) == len(list(TRANSCRIPTS.glob("*.md"))) >= 34
    for transcript in TRANSCRIPT_LIST:
        assert any(e["event"] == "bot" for e in transcript.events), transcript.name
        assert any(e["event"] == "user" for e in transcript.events), transcript.name


@pytest.mark.parametrize("transcript", TRANSCRIPT_LIST, ids=lambda t: t.name)
def test_transcript_follows_the_house_rules(transcript: Transcript) -> None:
    report = _check(transcript)
    broken = {r.rule: r.turn for r in report.results if r.passed is False}
    explained = "\n".join(f"{r.rule} turn {r.turn}: {r.detail}" for r in report.results if r.passed is False)
    assert broken == KNOWN_BOT_FAILURES.get(transcript.name, {}), explained
    assert json.loads(json.dumps(report.to_dict(), ensure_ascii=False)) == report.to_dict()


def test_the_rules_are_judged_not_skipped_on_the_transcripts() -> None:
    """Each rule applies somewhere: a checker that said None everywhere would pass the test above."""
    applied = {rule: 0 for rule, _ in RULES}
    for transcript in TRANSCRIPT_LIST:
        for result in _check(transcript).results:
            applied[result.rule] += result.passed is not None
    assert applied["apology_once"] == len(TRANSCRIPT_LIST)
    assert applied["one_question"] == len(TRANSCRIPT_LIST)
    assert applied["restate_first"] >= 28  # every complaint
    assert applied["options_with_time"] >= 18
    assert applied["ticket_after_confirm"] >= 15
    assert applied["promise_has_time"] >= 25
    assert applied["malicious_no_money"] == 1  # malicious_threat
    # urgent_in_tier: the transcripts show the handoff but not its claim: pending (None) in all of them.
    assert applied["urgent_in_tier"] == 0


def test_the_urgent_transcripts_are_pending_not_failed() -> None:
    urgent = [t for t in TRANSCRIPT_LIST if any(ticket.get("urgency") for ticket in t.tickets)]
    assert len(urgent) >= 7
    for transcript in urgent:
        result = _check(transcript).result("urgent_in_tier")
        assert result.passed is None and "等待人工接手" in result.detail, transcript.name
