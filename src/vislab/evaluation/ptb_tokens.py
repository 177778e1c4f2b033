"""pycocoevalcap's caption tokenization in Python: Stanford CoreNLP 3.4.1's PTBTokenizer
(`-preserveLines -lowerCase`, a Java program) followed by pycocoevalcap's removal of
punctuation tokens, reproduced for the captions whose every piece follows rules checked
against the Java tokenizer; `caption_tokens` (a run of captions, as the jar reads them) and
`plain_tokens` (one) say None for any other caption, whose set then goes to the Java tokenizer
(captioning_stats.tokenize). Most caption sets (words, commas, a final period) are read at once.

A caption is split on spaces and tabs into pieces; a piece is read as opening marks ( [ { ",
then one body, then an optional period, then at most two closing marks ) ] } " ' and at most one
of . , ; : ! ?. A body is a word of letters (with the clitics 's 'd 'm 're 've 'll and n't split
off; cannot, gonna, gotta, wanna, lemme and gimme split in two), words or numbers joined by
hyphens, a number (1,000 or 3.5), or letters joined by periods (u.s., e.g.). A piece may also be
one run of marks the Java tokenizer keeps as one token (- -- ... &).

A period after a word stays with it where the Java tokenizer reads the word as an
abbreviation: the lists below were read off the jar by running it on every letter string of
up to 5 letters, a 40,000-word vocabulary (METEOR's English paraphrase table), each in three
casings, and every casing of each abbreviation found; a few abbreviations (No., Fig., pp.)
keep their period only before a number, and a single letter keeps it unless one of a few words
that start sentences (The, It, However...) follows. The Java tokenizer sees these across the
line's end: each caption is told the next one with words (a number abbreviation ending a caption
before one that starts with a digit sends the set to Java).
The tests compare this tokenizer with the jar on thousands of random captions.
"""

from __future__ import annotations

import re

# pycocoevalcap's list: its upper-case brackets never match the lower-cased tokens
PUNCTUATIONS = frozenset(
    ["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-"]
    + [".", "?", "!", ",", ":", "-", "--", "...", ";"]
)
# a period after these stays with them (in any casing)
ABBREVIATIONS = frozenset(
    """a adj adm adv al ala alex apr ariz assn assoc asst atty attys aug ave b bancorp bhd bldg
    blvd brig bros c calif capt cf cie cmdr co col colo comdr conn corp cos cpl ct d dak dec
    dept det dr drs e elec ens esq est etc ext f feb fla fri ft g ga gen gov govs h hon i inc
    ind insp intl invt j jan jos jr jul jun k kan kans ky l lieut lt ltd m maj mar md messrs
    mich minn mlle mme mo mon mont mr mrs ms msgr mt n natl neb nev nov o oct okla p penn pfc
    ph plc pres prof profs pvt q r rd rep reps rev rt s sen sens sep sept seq sfc sgt spc sq sr
    st ste supt supts sys t tel tenn thu thurs treas tue tues u univ v va vs vt w wed wis wisc
    wm wyo x y z""".split()  # noqa: SIM905
)
CAPITAL_ABBREVIATIONS = frozenset("ark az del ill la mass miss ore pa tex wash".split())  # noqa: SIM905
# these, only where the letter at this place is lower case (Mfg, MfG but not MFG)
LOWER_AT = {"mfg": 1, "mtg": 1, "pte": 2, "ptes": 2, "pty": 2, "ptys": 2}
LOWER_AT |= {"ppte": 3, "pptes": 3, "ppty": 3, "pptys": 3}
# a sentence that starts with these (capital first) ends at a period after a single letter
STARTERS = frozenset(
    """a about according additionally after an as at but earlier he her here however if in it
    last many more now once one other our she since so some such that the their then there
    these they this we what when while yet you mr. ms.""".split()  # noqa: SIM905
)
NUMBER_ABBREVIATIONS = frozenset("art ca fig figs no nos op pp prop".split())  # noqa: SIM905
SPLIT_WORDS = frozenset(["cannot", "gonna", "gotta", "wanna", "lemme", "gimme"])  # at 3 letters
CLITICS = ("'s", "'d", "'m", "'re", "'ve", "'ll")
MARKS = {"(": "-lrb-", ")": "-rrb-", "[": "-lsb-", "]": "-rsb-", "{": "-lcb-", "}": "-rcb-"}
MARKS |= {'"': "''", "'": "'"}
RUNS = frozenset(["-", "--", "...", "&", ".", ",", ";", ":", "!", "?"])

_PIECE = re.compile(
    r"""(?P<open>[(\[{"]*)
    (?:(?P<acronym>[A-Za-z](?:\.[A-Za-z])+\.?)
      |(?P<word>[A-Za-z]+)(?P<clitic>'[A-Za-z]{1,2})?
      |(?P<joined>[A-Za-z0-9]+(?:-[A-Za-z0-9]+)+)
      |(?P<number>[0-9]+(?:,[0-9]{3})+|[0-9]+\.[0-9]+|[0-9]+[A-Za-z]*))
    (?P<period>\.)?(?P<close>[)\]}"']{0,2})(?P<stop>[.,;:!?]?)""",
    re.VERBOSE,
)
_SPACE = re.compile(r"([ \t]+)")
# most captions: words of letters, single spaces, commas after words, a period at the end
_SIMPLE = re.compile(r"(?:[A-Za-z]+,? )*(?P<last>[A-Za-z]+)(?P<period>\.?)")
_SIMPLE_CHARACTERS = re.compile(r"[A-Za-z ,.\n]*")
_LETTER_OR_MARK = bytes(
    ord("a") if chr(byte).isascii() and chr(byte).isalpha() else ord("_") for byte in range(256)
)
_SPLIT_WORD = re.compile(r"\b(?:cannot|gonna|gotta|wanna|lemme|gimme)\b")
_PLAIN = re.compile(r"[A-Za-z0-9 \t.,;:!?'\"()\[\]{}&-]*")


def caption_tokens(captions: list[str]) -> list[str | None]:
    """plain_tokens of every caption, each told the next one (the jar reads on across the
    line's end); when all are simple (words of letters, single spaces, commas after words, a
    period at the end), all at once."""
    text = "\n".join(captions)
    lower = text.lower()
    if not _simple(text) or any(word in lower for word in SPLIT_WORDS):
        return _one_by_one(captions)
    lines = lower.replace(",", "").split("\n")
    for index, line in enumerate(lines):
        if line.endswith("."):
            if _abbreviation(line[line.rfind(" ") + 1 : -1]):  # no blank caption: the next
                then = captions[index + 1] if index + 1 < len(captions) else ""
                lines[index] = plain_tokens(captions[index], then)
            else:
                lines[index] = line[:-1]
    return lines


def _simple(text: str) -> bool:
    """Words of letters, single spaces, commas after words and a period at the end of each
    line: only those characters, no two marks side by side but ", " and ".\n"."""
    if not (text[:1].isalpha() and text[-1] not in " ,\n" and _SIMPLE_CHARACTERS.fullmatch(text)):
        return False
    marked = text.encode("ascii").replace(b", ", b"\x01").replace(b".\n", b"\x02")
    ends = text.endswith(".")
    if b"," in marked or marked.count(b".") != ends:
        return False
    return b"__" not in marked.translate(_LETTER_OR_MARK)  # no two marks side by side


def _one_by_one(captions: list[str]) -> list[str | None]:
    following, after = [""] * len(captions), ""
    for index in range(len(captions) - 1, -1, -1):  # the next caption with words
        following[index] = after
        after = captions[index] if captions[index].strip() else after
    return [plain_tokens(text, then) for text, then in zip(captions, following, strict=True)]


def plain_tokens(caption: str, following: str | None = None) -> str | None:
    """The caption as pycocoevalcap tokenizes it (lower case, tokens joined by single spaces,
    punctuation removed), or None where the caption holds a piece these rules do not cover.
    `following`: the next caption with words in the same Java run ("" where none follows;
    None, not known: a caption ending in a single letter and a period then gives None)."""
    simple = _SIMPLE.fullmatch(caption)
    if simple:
        lower = caption.lower()
        if not _SPLIT_WORD.search(lower):
            if not simple["period"]:
                return lower.replace(",", "")
            if not _abbreviation(simple["last"].lower()):  # single letters included
                return lower[:-1].replace(",", "")
    if not _PLAIN.fullmatch(caption):
        return None
    parts = _SPACE.split(caption.strip(" \t"))
    if parts == [""]:
        return ""
    pieces, gaps = parts[::2], [*parts[1::2], None]  # None: the caption's end
    tokens: list[str] = []
    for index, piece in enumerate(pieces):
        after = pieces[index + 1] if index + 1 < len(pieces) else None
        if after and after[0].isdigit() and piece.rstrip(")")[-1:].isdigit():
            return None  # digits on both sides of a space: maybe one telephone number
        if after is None and following is not None:
            after = following.split(None, 1)[0] if following.strip() else ""
        read = _piece_tokens(piece, gaps[index], after)
        if read is None:
            return None
        tokens += read
    return " ".join(token for token in tokens if token not in PUNCTUATIONS)


def _piece_tokens(piece: str, gap: str | None, after: str | None) -> list[str] | None:
    if piece in RUNS:
        return [piece]
    match = _PIECE.fullmatch(piece)
    if match is None:
        return None
    body = _body(match)
    if body is None:
        return None
    period, close = match["period"], match["close"]
    if period and match["stop"]:
        return None
    if close[:1] == "'" and not (match["word"] and len(match["word"]) > 1 and not period):
        return None  # d' and y' keep their apostrophe
    if period:
        keeps = _keeps_period(match, gap, after)
        if keeps is None:
            return None
        if keeps:
            body[-1] += "."
        else:
            body.append(".")
    opening = [MARKS[mark] for mark in match["open"]]
    closing = [MARKS[mark] for mark in close]
    return opening + [token.lower() for token in body] + closing + list(match["stop"])


def _body(match: re.Match) -> list[str] | None:
    if match["acronym"]:
        return None if match["period"] else [match["acronym"]]
    if match["joined"]:
        parts = match["joined"].split("-")
        return None if sum(part.isdigit() for part in parts) > 1 else [match["joined"]]
    if match["word"] is None:
        return [match["number"]]
    word, clitic = match["word"], match["clitic"]
    if clitic is None:
        if word.lower() in SPLIT_WORDS:
            return [word[:3], word[3:]]
        return [word]
    if clitic.lower() == "'t" and len(word) > 1 and word[-1] in "nN" and word[-2] not in "nN":
        return [word[:-1], word[-1] + clitic]
    if clitic.lower() in CLITICS:
        return [word, clitic]
    return None


def _abbreviation(lower: str) -> bool:
    return (
        lower in ABBREVIATIONS
        or lower in CAPITAL_ABBREVIATIONS
        or lower in LOWER_AT
        or lower in NUMBER_ABBREVIATIONS
    )


def _keeps_period(match: re.Match, gap: str | None, after: str | None) -> bool | None:
    """Whether the Java tokenizer keeps a period after the piece's word (None: not known
    here): `gap` the spaces after the piece, `after` the next piece (None at the end)."""
    word = match["word"]
    if not word or match["clitic"]:
        return False
    lower = word.lower()
    if len(word) == 1 and not match["close"]:  # an initial, unless a sentence starts after it
        if after is None:
            return None  # the jar looks at the next caption
        return not (after[:1].isupper() and after.lower() in STARTERS)
    if lower in NUMBER_ABBREVIATIONS:  # No. 5 but No. more
        if match["close"] or after is None:
            return None
        if after[:1].isdigit():
            return True if gap == " " else None  # (gap None: the caption's end)
        return False
    if lower in ABBREVIATIONS:
        return True
    if lower in CAPITAL_ABBREVIATIONS:
        return word[0].isupper()
    if lower in LOWER_AT:
        return word[LOWER_AT[lower]].islower()
    return False
