#!/usr/bin/env python3
"""Build the bundled instruction data set and evaluation tasks from data/corpus.

    python3 scripts/build_instructions.py        (or: bash scripts/build-instructions.sh)

Writes, deterministically (seeded; standard library only):
  data/instructions/train.jsonl.gz, validation.jsonl.gz  chat records {"messages":[...]} from the corpus:
      - which source a passage comes from (sotu, moby-dick, brown, bible, wordnet, jargon)
      - continue a passage (the next sentence-ish span)
      - define a word from its WordNet gloss
    some records are multi-turn (two tasks in one chat).
  data/preferences/train.jsonl.gz  {"prompt","chosen","rejected"}: the right source / definition vs a wrong one.
  data/tasks/source.jsonl   multiple choice: which source a validation passage comes from
  data/tasks/cloze.jsonl    multiple choice: the true next span of a validation passage vs spans of others
  data/tasks/define.jsonl   generation (exact match): the part of speech of a WordNet headword
  data/tasks/retrieval.jsonl  retrieval (`substrate rag eval`): a WordNet gloss asked by its definition; the answer is
      the gloss line ("word (pos): definition"), which the gold chunk of the indexed validation split contains
  data/tasks/retrieval-paraphrase.jsonl  the same, harder: the definition's content words swapped for WordNet synonyms
      (from the lemma lists of both splits) that the gold gloss line does not hold
  data/tasks/retrieval-synonym.jsonl  a gloss line asked by one of its lemmas ("Which word means the same as 'cannon'?")
  data/tasks/gloss.jsonl    multiple choice: a validation WordNet headword's gloss among four (a knowledge task: the
      answer is in the validation split only, so it is known by reading, not by training on the train split)
Task and validation records come only from the corpus validation split; training records only from train.
"""
import gzip, json, os, random, re

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SOURCES = ["sotu", "moby-dick", "brown", "bible", "wordnet", "jargon"]
NAMES = {"sotu": "State of the Union addresses", "moby-dick": "Moby-Dick", "brown": "the Brown corpus",
         "bible": "the Bible", "wordnet": "WordNet", "jargon": "the Jargon File"}
SYSTEM = "You are a small assistant trained on a library of six books."
GLOSS = re.compile(r"^([^()\n]+?) \((noun|verb|adjective|adverb|adj|adv)\): (.+)$")


def read(split):
    with gzip.open(os.path.join(REPO, "data", "corpus", f"{split}.jsonl.gz"), "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def passages(docs, rng, per_doc, length=220):
    """(source, passage, continuation) windows cut at word boundaries."""
    out = []
    for d in docs:
        text = " ".join(d["text"].split())
        if len(text) < length + 120:
            continue
        for _ in range(per_doc):
            start = rng.randrange(0, len(text) - length - 100)
            start = text.find(" ", start) + 1
            end = text.rfind(" ", start, start + length)
            cont_end = text.rfind(" ", end + 1, end + 80)
            if end <= start or cont_end <= end:
                continue
            out.append((d["source"], text[start:end], text[end + 1:cont_end]))
    return out


def glosses(docs):
    out = []
    for d in docs:
        if d["source"] != "wordnet":
            continue
        for line in d["text"].split("\n"):
            m = GLOSS.match(line.strip())
            if m:
                word = m.group(1).split(",")[0].strip()
                gloss = m.group(3).split(";")[0].strip()
                if 2 < len(word) < 30 and 10 < len(gloss) < 160:
                    out.append((word, m.group(2), gloss))
    return out


def source_turn(source, passage):
    return [{"role": "user", "content": f"Which source does this passage come from? {', '.join(SOURCES)}.\n\n{passage}"},
            {"role": "assistant", "content": source}]


def continue_turn(passage, continuation):
    return [{"role": "user", "content": f"Continue the passage:\n\n{passage}"},
            {"role": "assistant", "content": continuation}]


def define_turn(word, pos, gloss):
    return [{"role": "user", "content": f"Define the word '{word}'."},
            {"role": "assistant", "content": f"{word} ({pos}): {gloss}"}]


def chats(docs, rng, per_doc, max_glosses):
    turns = []
    for source, passage, continuation in passages(docs, rng, per_doc):
        turns.append(source_turn(source, passage[:160]))
        turns.append(continue_turn(passage, continuation))
    g = glosses(docs)
    for word, pos, gloss in rng.sample(g, min(max_glosses, len(g))):
        turns.append(define_turn(word, pos, gloss))
    rng.shuffle(turns)
    records, i = [], 0
    while i < len(turns):
        if i + 1 < len(turns) and rng.random() < 0.2:  # multi-turn: two tasks in one chat
            messages = [{"role": "system", "content": SYSTEM}] + turns[i] + turns[i + 1]
            i += 2
        else:
            messages = turns[i]
            i += 1
        records.append({"messages": messages})
    return records


def preferences(docs, rng, per_doc):
    out = []
    for source, passage, _ in passages(docs, rng, per_doc):
        wrong = rng.choice([s for s in SOURCES if s != source])
        out.append({"prompt": f"Which source does this passage come from?\n\n{passage[:160]}\n\nAnswer:",
                    "chosen": f" {source}", "rejected": f" {wrong}"})
    return out


def write_jsonl(path, records, gz):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = "".join(json.dumps(r, ensure_ascii=False, sort_keys=False) + "\n" for r in records).encode("utf-8")
    if gz:
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
            f.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)
    print(f"{os.path.relpath(path, REPO)}: {len(records)} records")


def main():
    rng = random.Random(20261125)
    train, validation = read("train"), read("validation")
    # Balance sources: the bible has many short chapters.
    by_source = {s: [d for d in train if d["source"] == s] for s in SOURCES}
    balanced = [d for s in SOURCES for d in rng.sample(by_source[s], min(60, len(by_source[s])))]
    write_jsonl(os.path.join(REPO, "data", "instructions", "train.jsonl.gz"), chats(balanced, rng, 3, 300), True)
    write_jsonl(os.path.join(REPO, "data", "instructions", "validation.jsonl.gz"), chats(validation, rng, 1, 40), True)
    write_jsonl(os.path.join(REPO, "data", "preferences", "train.jsonl.gz"), preferences(balanced, rng, 2), True)

    tasks = os.path.join(REPO, "data", "tasks")
    val_passages = passages(validation, rng, 3)
    source_items = []
    for s in SOURCES:  # at most 12 per source, so the task is not just "bible"
        items = [p for p in val_passages if p[0] == s][:12]
        source_items += [{"query": f"Which source does this passage come from?\n\n{p[:160]}\n\nAnswer:",
                          "choices": [f" {c}" for c in SOURCES], "gold": SOURCES.index(src)} for src, p, _ in items]
    rng.shuffle(source_items)
    write_jsonl(os.path.join(tasks, "source.jsonl"), source_items, False)

    cloze = []
    for src, passage, continuation in val_passages[:80]:
        others = [c for s2, p2, c in val_passages if c != continuation]
        choices = [continuation] + rng.sample(others, 3)
        rng.shuffle(choices)
        cloze.append({"query": passage[-200:], "choices": [" " + c for c in choices], "gold": choices.index(continuation)})
    write_jsonl(os.path.join(tasks, "cloze.jsonl"), cloze, False)

    g = glosses(validation)
    define = [{"query": f"{word} (", "answer": pos, "until": [")"]} for word, pos, _ in rng.sample(g, min(60, len(g)))]
    write_jsonl(os.path.join(tasks, "define.jsonl"), define, False)
    write_jsonl(os.path.join(tasks, "retrieval.jsonl"), retrieval_questions(validation), False)
    write_jsonl(os.path.join(tasks, "retrieval-paraphrase.jsonl"), paraphrase_questions(train, validation), False)
    write_jsonl(os.path.join(tasks, "retrieval-synonym.jsonl"), synonym_questions(validation), False)
    write_jsonl(os.path.join(tasks, "gloss.jsonl"), gloss_task(validation), False)


def retrieval_questions(validation):
    """Glosses asked by definition, with a seed of their own so the files above stay as they were. A gloss line whose
    definition stands twice in the split is left out: its gold passage would not be one place."""
    rng = random.Random(20261203)
    lines = [line.strip() for d in validation if d["source"] == "wordnet" for line in d["text"].split("\n")]
    definitions = {}
    for line in lines:
        m = GLOSS.match(line)
        if m:
            definitions.setdefault(m.group(3).split(";")[0].strip(), []).append(line)
    items = [(definition, found[0]) for definition, found in definitions.items() if len(found) == 1 and 20 < len(definition) < 160]
    return [{"question": f"Which word means: {definition}?", "answer": line} for definition, line in rng.sample(items, min(200, len(items)))]


# Words a paraphrase keeps as they are: function words, and the frame words of glosses ("the quality of being …"),
# whose synonyms in other senses would turn the question into nonsense ("the timbre of organism …").
KEEP = set("a an the of to in on for with by from as at or and is are be that this which who whom whose it its into than then "
           "there their them they he she his her you your we our not no any some all one two used especially being having quality "
           "state act make made person something someone people use very".split())


def gloss_lines(docs):
    """(line, match) of every WordNet gloss line of the documents, in order."""
    for d in docs:
        if d["source"] == "wordnet":
            for line in d["text"].split("\n"):
                m = GLOSS.match(line.strip())
                if m:
                    yield line.strip(), m


def unique_glosses(validation):
    """(definition, gloss line) of the validation split whose definition stands once (so the gold passage is one place)."""
    definitions = {}
    for line, m in gloss_lines(validation):
        definitions.setdefault(m.group(3).split(";")[0].strip(), []).append(line)
    return [(definition, found[0]) for definition, found in definitions.items() if len(found) == 1 and 10 < len(definition) < 200]


def synonyms(docs):
    """word -> the other one-word lemmas of every WordNet synset it is a lemma of (all senses: a paraphrase may miss)."""
    out = {}
    for _, m in gloss_lines(docs):
        single = [x.strip().lower() for x in m.group(1).split(",") if re.fullmatch(r"[a-z]+", x.strip().lower())]
        for x in single:
            out.setdefault(x, set()).update(y for y in single if y != x)
    return out


def paraphrase_questions(train, validation):
    """Definitions with each content word swapped for a seeded choice among its synonyms that the gold line does not
    hold; kept when at least 40% of the content words were swapped. Gold known by construction (the gloss line)."""
    rng = random.Random(20261204)
    table = synonyms(train + validation)
    items = []
    for definition, line in unique_glosses(validation):
        gold = set(re.findall(r"[a-z]+", line.lower()))
        pieces = re.findall(r"[A-Za-z]+|[^A-Za-z]+", definition)
        content = [p.lower() for p in pieces if p.isalpha() and p.lower() not in KEEP and len(p) > 2]
        swapped, out = 0, []
        for piece in pieces:
            choices = sorted(s for s in table.get(piece.lower(), ()) if s not in gold) if piece.lower() in content else []
            out.append(rng.choice(choices) if choices else piece)
            swapped += 1 if choices else 0
        if content and swapped >= 0.4 * len(content):
            items.append({"question": f"Which word means: {''.join(out)}?", "answer": line})
    return items


def synonym_questions(validation):
    """A gloss line of two or more lemmas asked by one of them (seeded) for the others; the lemma is the headword of no
    other line of the split, so the gold passage is one place."""
    rng = random.Random(20261205)
    lines = [line for _, line in unique_glosses(validation)]
    heads = {}
    for line in lines:
        for lemma in GLOSS.match(line).group(1).split(","):
            heads.setdefault(lemma.strip().lower(), []).append(line)
    items = []
    for line in lines:
        m = GLOSS.match(line)
        lemmas = [x.strip() for x in m.group(1).split(",")]
        asked = [x for x in lemmas if len(heads[x.lower()]) == 1]
        if len(lemmas) >= 2 and asked:
            items.append({"question": f"Which word means the same as '{rng.choice(asked)}' ({m.group(2)})?", "answer": line})
    return rng.sample(items, min(200, len(items)))


def gloss_task(validation):
    """Multiple choice: "word (pos):" then the true gloss and three glosses of other headwords (seeded). Headwords that
    stand once only, so the question has one answer."""
    rng = random.Random(20261206)
    g = glosses(validation)
    counts = {}
    for word, _, _ in g:
        counts[word] = counts.get(word, 0) + 1
    g = [x for x in g if counts[x[0]] == 1]
    items = []
    for word, pos, gloss in rng.sample(g, min(60, len(g))):
        others = rng.sample([x[2] for x in g if x[2] != gloss], 3)
        choices = [gloss] + others
        rng.shuffle(choices)
        items.append({"query": f"{word} ({pos}):", "choices": [" " + c for c in choices], "gold": choices.index(gloss)})
    return items


if __name__ == "__main__":
    main()
