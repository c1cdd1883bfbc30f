"""Draws the corpus samples our annotators labelled (docs/eval/README.md); writes texts to /tmp only.

    python docs/eval/sample_cause_set.py first    # 70 a source, seed 20261129  -> /tmp/label/sample.tsv
    python docs/eval/sample_cause_set.py heldout  # 60 a source, seed 720261129, none of the first
                                                  # sample                      -> /tmp/label/sample2.tsv

A row is a customer message of at least 8 content characters (reviews, and the customer turns of
dialogues with the previous agent turn as context). The texts are for the annotators only and
are never committed: the label files hold row ids.
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"
SOURCES = ["fosaed", "jddc", "os10", "stc3", "waimai10k", "fosaed_rev"]
SAMPLES = {"first": (20261129, 70, "sample.tsv"), "heldout": (7_2026_11_29, 60, "sample2.tsv")}


def messages() -> dict[str, list[tuple[str, str, str]]]:
    """(row id, previous agent turn, text) of every long enough customer message, by source."""
    rows: dict[str, list[tuple[str, str, str]]] = {}
    for line in (CORPORA / "reviews.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        parts = line.split("\t")
        if len(parts) == 3 and len(re.sub(r"\W", "", parts[2])) >= 8:
            rows.setdefault(parts[0], []).append((f"{parts[0]}:{parts[1]}", "", parts[2]))
    for line in (CORPORA / "dialogues.jsonl").open(encoding="utf-8"):
        dialogue = json.loads(line)
        previous = ""
        for n, turn in enumerate(dialogue["turns"]):
            text = turn["text"]
            if turn["speaker"] == "user" and text != "[held out]" and len(re.sub(r"\W", "", text)) >= 8:
                rows.setdefault(dialogue["source"], []).append((f"{dialogue['source']}:{dialogue['id']}#{n}", previous, text))
            if turn["speaker"] == "agent":
                previous = text
    return rows


def sample(name: str, rows: dict[str, list[tuple[str, str, str]]], taken: set[str]) -> list[tuple[str, str, str]]:
    """The sample ``name`` (``first`` or ``heldout``), without the rows in ``taken``."""
    seed, per_source, _ = SAMPLES[name]
    random.seed(seed)
    out: list[tuple[str, str, str]] = []
    for source in SOURCES:
        out += random.sample([r for r in rows[source] if r[0] not in taken], per_source)
    random.shuffle(out)
    return out


def main() -> None:
    """Writes the chosen sample's texts for the annotators."""
    name = sys.argv[1] if len(sys.argv) > 1 else "first"
    rows = messages()
    taken = {r[0] for r in sample("first", rows, set())} if name == "heldout" else set()
    out = sample(name, rows, taken)
    target = Path("/tmp/label") / SAMPLES[name][2]
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8") as f:
        f.write("row_id\tprev_agent_turn\ttext\n")
        for row in out:
            f.write("\t".join(x.replace("\t", " ").replace("\n", " ") for x in row) + "\n")
    print(f"{len(out)} rows -> {target}")


if __name__ == "__main__":
    main()
