"""A tiny copy of the project for training tests: the real domain, stories and rules, the real
pipeline with DIET at 2 epochs, and at most ``per_intent`` NLU examples of each intent (lookup
tables, synonyms and regexes kept), so that ``rasa train`` takes about a minute."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


class _Literal(str):
    pass


def _literal(dumper: yaml.SafeDumper, value: _Literal) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")


yaml.SafeDumper.add_representer(_Literal, _literal)


def tiny_project(dest: Path, per_intent: int = 10, epochs: int = 2) -> Path:
    """Writes the tiny project into ``dest`` (domain.yml, config.yml, data/); returns ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "domain.yml", dest / "domain.yml")
    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    for component in config["pipeline"]:
        if component["name"] == "DIETClassifier":
            component["epochs"] = epochs
    (dest / "config.yml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    shutil.copytree(ROOT / "data" / "stories", dest / "data" / "stories")
    kept: dict[str, int] = {}
    blocks: list[dict[str, Any]] = []
    for path in sorted((ROOT / "data" / "nlu").rglob("*.yml")):
        for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
            if "intent" not in block:
                blocks.append({**block, "examples": _Literal(block.get("examples") or "")})
                continue
            lines = [line for line in str(block.get("examples") or "").splitlines() if line.strip().startswith("- ")]
            if path.name == "entity_labels.yml":  # every entity label, so fine-tuning sees no new label
                blocks.append({"intent": block["intent"], "examples": _Literal("\n".join(lines) + "\n")})
                continue
            room = per_intent - kept.get(block["intent"], 0)
            if room <= 0 or not lines:
                continue
            kept[block["intent"]] = kept.get(block["intent"], 0) + min(room, len(lines))
            blocks.append({"intent": block["intent"], "examples": _Literal("\n".join(lines[:room]) + "\n")})
    (dest / "data" / "nlu").mkdir(parents=True)
    text = yaml.safe_dump({"version": "3.1", "nlu": blocks}, allow_unicode=True, sort_keys=False, width=1000)
    (dest / "data" / "nlu" / "tiny.yml").write_text(text, encoding="utf-8")
    return dest
