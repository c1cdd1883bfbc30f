import csv, json, random, re
random.seed(7_2026_11_29)
C = "/work/shared/corpora"
rows = {}
for line in open(f"{C}/reviews.tsv", encoding="utf-8").read().splitlines()[1:]:
    p = line.split("\t")
    if len(p) != 3: continue
    src, i, text = p
    if len(re.sub(r"\W", "", text)) >= 8:
        rows.setdefault(src, []).append((f"{src}:{i}", "", text))
for line in open(f"{C}/dialogues.jsonl", encoding="utf-8"):
    d = json.loads(line)
    prev = ""
    for n, t in enumerate(d["turns"]):
        if t["speaker"] == "user" and t["text"] != "[held out]" and len(re.sub(r"\W", "", t["text"])) >= 8:
            rows.setdefault(d["source"], []).append((f"{d['source']}:{d['id']}#{n}", prev, t["text"]))
        if t["speaker"] == "agent": prev = t["text"]
taken = {l.split("\t")[0] for l in open("the first sample", encoding="utf-8")}
out = []
for src in ["fosaed", "jddc", "os10", "stc3", "waimai10k", "fosaed_rev"]:
    out += random.sample([r for r in rows[src] if r[0] not in taken], 60)
random.shuffle(out)
with open("sample2.tsv  (texts for the annotators; not committed)", "w", encoding="utf-8") as f:
    f.write("row_id\tprev_agent_turn\ttext\n")
    for r in out:
        f.write("\t".join(x.replace("\t", " ").replace("\n", " ") for x in r) + "\n")
print(len(out))
