"""Shows how the trained NLU reads messages: intent, runner-up, entities, urgency, cause.

For error analysis on real text without labels: read a random sample of the corpora and judge
the readings yourself; or check your own sentences before adding them as training data.

    .venv/bin/python tools/parse.py 快递五天了还没到 "客服半天不回"        # messages as arguments
    .venv/bin/python tools/parse.py --file my_sentences.txt                 # one message a line
    .venv/bin/python tools/parse.py --sample 40 --source jddc --seed 3      # corpus sample (../shared/corpora)
    .venv/bin/python tools/parse.py --sample 40 --only complaint_service    # only those read as this intent

Output: one line per message (``intent conf | runner-up conf | entities | text``); corpus texts
are printed for reading only, never to be copied into data/.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CORPORA = ROOT.parent / "shared" / "corpora"


def corpus_messages(source: str | None) -> list[str]:
    """Customer messages of the corpora (reviews and the customer turns of dialogues)."""
    texts: list[str] = []
    with (CORPORA / "reviews.tsv").open(encoding="utf-8") as f:
        texts += [r["text"] for r in csv.DictReader(f, delimiter="\t") if not source or r["source"] == source]
    with (CORPORA / "dialogues.jsonl").open(encoding="utf-8") as f:
        for line in f:
            dialogue = json.loads(line)
            if source and dialogue["source"] != source:
                continue
            texts += [t["text"] for t in dialogue["turns"] if t["speaker"] == "user" and t["text"] != "[held out]"]
    return texts


async def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("messages", nargs="*")
    parser.add_argument("--model", default=None, help="model archive (default: newest in models/)")
    parser.add_argument("--file", help="one message a line")
    parser.add_argument("--sample", type=int, default=0, help="this many random corpus messages")
    parser.add_argument("--source", help="corpus source: jddc, fosaed, stc3, os10, waimai10k, fosaed_rev")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", help="print only messages read as this intent")
    args = parser.parse_args()

    messages = list(args.messages)
    if args.file:
        messages += [line.strip() for line in Path(args.file).read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.sample:
        pool = corpus_messages(args.source)
        messages += random.Random(args.seed).sample(pool, min(args.sample, len(pool)))

    from rasa.core.agent import Agent

    model = args.model or str(max((ROOT / "models").glob("*.tar.gz"), key=lambda p: p.stat().st_mtime))
    agent = Agent.load(model)
    for text in messages:
        parsed = await agent.parse_message(text)
        intent = parsed.get("intent") or {}
        if args.only and intent.get("name") != args.only:
            continue
        ranking = [r for r in parsed.get("intent_ranking") or [] if r.get("name") != intent.get("name")]
        runner = ranking[0] if ranking else {}
        entities = ", ".join(f"{e['entity']}={e['value']}" for e in parsed.get("entities") or [])
        rule = f" [{intent['rule']}]" if intent.get("rule") else ""
        print(
            f"{intent.get('name')} {intent.get('confidence') or 0:.2f}{rule} | "
            f"{runner.get('name')} {runner.get('confidence') or 0:.2f} | {entities} | {text[:160]}"
        )


if __name__ == "__main__":
    asyncio.run(main())
