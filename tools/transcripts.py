"""Talks to the real bot through its REST channel and writes readable transcripts.

Each scenario in ``tests/scenarios.yml`` is a list of customer messages (a string, or a mapping
whose ``say`` is the message and whose other keys are what tests/test_scenarios.py checks). The script starts its
own stack (a throw-away Redis, the action server and the Rasa server, on free ports) unless
``--url`` points at a running bot, plays every scenario as a new customer, and writes
``docs/transcripts/<scenario>.md``: what the customer said, what the bot answered, and the
intent, confidence and urgency the NLU found for each message (from the tracker).

    .venv/bin/python tools/transcripts.py                 # all scenarios
    .venv/bin/python tools/transcripts.py --only safety   # scenarios whose name contains "safety"
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.language.causes import cause_label  # noqa: E402
from tools.devstack import Stack, base_env, ensure_model, free_port  # noqa: E402
from tools.http_client import get_json, post_json  # noqa: E402


def play(base: str, token: str, name: str, turns: list[str]) -> str:
    """Plays one scenario and returns its transcript as Markdown."""
    sender = f"transcript-{name}-{uuid.uuid4().hex[:6]}"
    replies = [post_json(f"{base}/webhooks/rest/webhook", {"sender": sender, "message": text}) for text in turns]
    tracker = get_json(f"{base}/conversations/{sender}/tracker?token={token}", timeout=60)
    parses = [e.get("parse_data", {}) for e in tracker.get("events", []) if e.get("event") == "user"]
    lines = [f"# {name}", ""]
    for i, (text, answer) in enumerate(zip(turns, replies)):
        parse = parses[i] if i < len(parses) else {}
        intent = parse.get("intent") or {}
        urgency = [e["value"] for e in parse.get("entities", []) if e.get("entity") == "urgency"]
        rule = f", rule {intent['rule']}" if intent.get("rule") else ""
        note = f"{intent.get('name')} {float(intent.get('confidence') or 0):.2f}{rule}"
        if urgency:
            note += f"; urgency {', '.join(urgency)}"
        lines.append(f"**顾客:** {text or '(空消息)'}  ")
        lines.append(f"<sub>NLU: {note}</sub>")
        lines.append("")
        for message in answer:
            shown = message.get("text") or (
                "[image] " + message["image"] if "image" in message else json.dumps(message, ensure_ascii=False)
            )
            lines.append(f"> **机器人:** {shown}")
            for button in message.get("buttons", []) or []:
                lines.append(f"> - [{button.get('title')}]")
        lines.append("")
    tickets = get_json(f"{base}/api/tickets?sender_id={sender}&token={token}", timeout=60)
    for ticket in tickets:
        chosen = (ticket.get("chosen_option") or {}).get("label") or "—"
        compensation = ticket.get("compensation") or {}
        lines.append(
            f"<sub>工单 {ticket['id']}: {ticket['type']}"
            + (f" / 原因 {cause_label(ticket.get('cause'))}" if ticket.get("cause") else "")
            + (f" / 另有 {ticket['secondary_type']}" if ticket.get("secondary_type") else "")
            + f", 紧急程度 {ticket.get('urgency') or '—'}, {ticket['priority']}, "
            f"状态 {ticket['status']}, 方案 {chosen}"
            + (f", 补偿 ¥{compensation.get('amount')} ({compensation.get('status')})" if compensation else "")
            + (", 风险标记" if ticket.get("risk_flag") else "")
            + "</sub>  "
        )
    if not tickets:
        lines.append("<sub>没有工单</sub>")
    return "\n".join(lines)


def main() -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="base URL of a running bot (default: start one)")
    parser.add_argument("--token", default="", help="its BOT_API_TOKEN (with --url)")
    parser.add_argument("--scenarios", default=str(ROOT / "tests" / "scenarios.yml"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "transcripts"))
    parser.add_argument("--only", default="", help="only scenarios whose name contains this")
    args = parser.parse_args()

    scenarios = yaml.safe_load(Path(args.scenarios).read_text(encoding="utf-8"))
    wanted = {name: turns for name, turns in scenarios.items() if args.only in name}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stack = Stack()
    try:
        if args.url:
            base, token = args.url.rstrip("/"), args.token
        else:
            model = ensure_model()
            work = Path(tempfile.mkdtemp(prefix="transcripts-"))
            redis = stack.start_redis(free_port(), work / "redis", log=work / "redis.log")
            action_port, token = free_port(), secrets.token_urlsafe(16)
            env = base_env(
                **redis.env(), ACTION_ENDPOINT_URL=f"http://127.0.0.1:{action_port}/webhook", BOT_API_TOKEN=token
            )
            stack.start_actions(action_port, env, log=work / "actions.log")
            base = stack.start_rasa(free_port(), model, token, env, log=work / "rasa.log")
        for name, turns in wanted.items():
            path = out / f"{name}.md"
            path.write_text(
                play(base, token, name, [str(t["say"]) if isinstance(t, dict) else str(t) for t in turns]) + "\n",
                encoding="utf-8",
            )
            print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
