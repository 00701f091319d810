"""How correction rules see text: tokens, normalized words, exact and sounds-like matches.

One definition, used by the engine when it serves a bundle (``engine.personalize``) and
by the learning pipeline when it mines and scores rules (``retrain.learn``), so that a
rule fires in serving exactly where it fired in evaluation.

**Tokens.** A text is split at whitespace; an English clitic ("'s", "n't", "'m" ...) is
split off its word when Whisper's normalizer agrees ("Kästner's" -> "Kästner" + "'s",
normalized "kastner" + "is"). Each token keeps its original spelling (edge punctuation
trimmed) and its normalized words (``engine.scoring.normalize``, token by token; a
token may have several, "Nguyen-Tran" -> "nguyen tran", or none, "um").

**Exact rules** (``CorrectionRule.similarity >= 1``) match a run of whole tokens whose
normalized words are exactly the rule's ``source``.

**Sounds-like rules** (``similarity < 1``) match a run of 1-4 tokens whose *spelling key*
(normalized words reduced to letters and digits, no spaces) has at least that normalized
Levenshtein similarity to the source's key, unless the run is already written as the
target, and only if the run needs every token it covers (if dropping its first or last
token matches as well, it does not fire: "the Bramble Crest" -> "the Bramblecrest").
A run made only of words the model knows as single tokens (common words: "is to",
"graph on a") matches a sounds-like rule only when its key equals the source's key
exactly, never by mere similarity: otherwise "is to" would become "Istio". Whether a
word is a single token is read from the model's own tokenizer (GPT-2 BPE, with the
leading space of running text), so no word list is involved.

**Choice.** Exact matches win over sounds-like ones, then more similar, then longer, then
earlier; matches never overlap and replaced text is never matched again.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz.distance import Levenshtein

from engine.bundle import CorrectionRule
from engine.scoring import normalize

MAX_SPAN_TOKENS = 4
_CLITIC = re.compile(r"^(?P<stem>.+?)(?P<clitic>(?:['’](?:s|re|ve|ll|d|m)|n['’]t))$", re.I)
EDGE_PUNCT = "\"'“”‘’«»()[]{}<>,.;:!?¿¡…—–-"


@dataclass(frozen=True, slots=True)
class Token:
    """One word of a text: its original spelling, its normalized words, and where it is."""

    text: str  # original spelling, edge punctuation trimmed (may be "" for pure punctuation)
    norm: tuple[str, ...]  # normalized words (possibly empty)
    raw: str  # the exact characters of the text this token came from
    start: int  # character offset of ``raw`` in the text
    end: int
    attached: bool = False  # a clitic glued to the previous token (no space before it)


@lru_cache(maxsize=65536)
def normalize_token(word: str) -> tuple[str, ...]:
    """Normalized words of one token (cached: the normalizer is regex-heavy)."""
    return tuple(normalize(word).split()) if word else ()


def _split_clitic(core: str) -> tuple[str, tuple[str, ...], str, tuple[str, ...]] | None:
    match = _CLITIC.match(core)
    if not match:
        return None
    stem, clitic = match.group("stem"), match.group("clitic")
    whole = normalize_token(core)
    stem_norm = normalize_token(stem)
    if not stem_norm or len(whole) <= len(stem_norm) or whole[: len(stem_norm)] != stem_norm:
        return None
    return stem, stem_norm, clitic, whole[len(stem_norm) :]


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens with original spellings and normalized words."""
    tokens: list[Token] = []
    for match in re.finditer(r"\S+", text):
        raw = match.group(0)
        start = match.start()
        core = raw.strip(EDGE_PUNCT)
        split = _split_clitic(core) if core else None
        if split is None:
            tokens.append(Token(core, normalize_token(core), raw, start, match.end()))
            continue
        stem, stem_norm, clitic, clitic_norm = split
        cut = start + raw.find(core) + len(stem)
        tokens.append(Token(stem, stem_norm, text[start:cut], start, cut))
        tokens.append(Token(clitic, clitic_norm, text[cut : match.end()], cut, match.end(), True))
    return tokens


def words_of(tokens: Iterable[Token]) -> tuple[str, ...]:
    return tuple(w for t in tokens for w in t.norm)


def spelling_key(words: Iterable[str]) -> str:
    """Normalized words as letters and digits only ("cube control" -> "cubecontrol")."""
    return "".join(ch for word in words for ch in word if ch.isalnum())


def text_words(text: str) -> tuple[str, ...]:
    return words_of(tokenize(text))


@lru_cache(maxsize=262144)
def similarity(a: str, b: str) -> float:
    """Normalized Levenshtein similarity of two spelling keys (1.0: identical)."""
    if not a or not b:
        return 0.0
    return Levenshtein.normalized_similarity(a, b)


@lru_cache(maxsize=1)
def _tokenizer():
    from tokenizers import Tokenizer

    from engine.prepare import tokenizer_path

    return Tokenizer.from_file(str(tokenizer_path()))


@lru_cache(maxsize=65536)
def is_common_word(word: str) -> bool:
    """True if the model's tokenizer spells `` word`` (as in running text) in one token."""
    if not word:
        return True
    return len(_tokenizer().encode(" " + word, add_special_tokens=False).ids) <= 1


def exact_matches(tokens: Sequence[Token], source: tuple[str, ...]) -> list[tuple[int, int]]:
    """Token ranges whose normalized words are exactly ``source`` (whole tokens)."""
    found = []
    n = len(tokens)
    for i in range(n):
        if not tokens[i].norm or tokens[i].attached:
            continue
        words: list[str] = []
        for j in range(i, n):
            words.extend(tokens[j].norm)
            if len(words) > len(source) or tuple(words) != source[: len(words)]:
                break
            if len(words) == len(source):
                found.append((i, j + 1))
                break
    return found


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """A chosen match: tokens ``start:end`` of the text are replaced by the rule's target."""

    start: int
    end: int
    rule: CorrectionRule
    exact: bool
    score: float


def rule_priority(rule: CorrectionRule) -> tuple:
    return (-len(rule.source), -rule.support, rule.source, rule.target)


def within_reach(length: int, other_length: int, needed: float) -> bool:
    """Whether keys of these lengths can be ``needed`` similar: the edit distance is at
    least the length difference, so a larger difference rules the pair out unseen."""
    longest = max(length, other_length)
    return abs(length - other_length) <= (1.0 - needed) * longest + 1e-9


def _fuzzy_matches(tokens: Sequence[Token], rules: Sequence[CorrectionRule]) -> list[RuleMatch]:
    if not rules:
        return []
    by_target: dict[str, list[tuple[str, CorrectionRule]]] = defaultdict(list)
    for rule in rules:
        by_target[rule.target].append((spelling_key(rule.source), rule))
    target_words = {target: text_words(target) for target in by_target}
    n = len(tokens)
    keys: dict[tuple[int, int], str] = {}

    def key_of(i: int, j: int) -> str:
        if (i, j) not in keys:
            keys[(i, j)] = spelling_key(words_of(tokens[i:j]))
        return keys[(i, j)]

    class _Common(dict):
        def __missing__(self, span: tuple[int, int]) -> bool:
            value = all(is_common_word(t.text) for t in tokens[span[0] : span[1]] if t.norm)
            self[span] = value
            return value

    common = _Common()
    tops: dict[tuple[int, int, str], tuple[float, CorrectionRule | None]] = {}
    sources = [(key, rule) for entries in by_target.values() for key, rule in entries]

    by_length: dict[int, set[str]] = {}
    by_key: dict[str, set[str]] = defaultdict(set)
    for key, rule in sources:
        by_key[key].add(rule.target)

    def reachable(span: str, only_exact: bool) -> set[str]:
        """The targets with a rule ``best`` can pick for this span (the same tests)."""
        if only_exact:
            return by_key.get(span, set())
        n = len(span)
        if n not in by_length:
            by_length[n] = {
                rule.target for key, rule in sources if within_reach(n, len(key), rule.similarity)
            }
        return by_length[n]

    def best(i: int, j: int, target: str) -> tuple[float, CorrectionRule | None]:
        if (i, j, target) in tops:
            return tops[(i, j, target)]
        span = key_of(i, j)
        only_exact = common[(i, j)]  # common words only: exact keys, not mere similarity
        top: tuple[float, CorrectionRule | None] = (0.0, None)
        for source_key, rule in by_target[target]:
            if only_exact:
                if span != source_key or not span:
                    continue
                score = 1.0
            else:
                if not within_reach(len(span), len(source_key), rule.similarity):
                    continue
                score = similarity(span, source_key)
            if score >= rule.similarity and score > top[0]:
                top = (score, rule)
        tops[(i, j, target)] = top
        return top

    found = []
    for i in range(n):
        if not tokens[i].norm or tokens[i].attached:
            continue
        for j in range(i + 1, min(n, i + MAX_SPAN_TOKENS) + 1):
            if not key_of(i, j):
                continue
            span_words = words_of(tokens[i:j])
            candidates = reachable(key_of(i, j), common[(i, j)])
            for target in by_target:
                if target not in candidates or span_words == target_words[target]:
                    continue  # already written as the term
                score, rule = best(i, j, target)
                if rule is None:
                    continue
                needed = all(
                    not (a < b and key_of(a, b) and best(a, b, target)[0] >= score)
                    for a, b in ((i + 1, j), (i, j - 1))
                )
                if needed:
                    found.append(RuleMatch(i, j, rule, False, score))
    return found


def find_matches(tokens: Sequence[Token], rules: Sequence[CorrectionRule]) -> list[RuleMatch]:
    """The non-overlapping matches that fire, in text order."""
    exact = [r for r in rules if r.similarity >= 1.0 and r.source]
    fuzzy = [r for r in rules if r.similarity < 1.0 and r.source]
    matches = [
        RuleMatch(i, j, rule, True, 1.0)
        for rule in sorted(exact, key=rule_priority)
        for i, j in exact_matches(tokens, rule.source)
    ]
    matches += _fuzzy_matches(tokens, fuzzy)
    matches.sort(key=lambda m: (not m.exact, -m.score, -(m.end - m.start), m.start))
    taken = [False] * len(tokens)
    chosen: list[RuleMatch] = []
    for match in matches:
        if any(taken[match.start : match.end]):
            continue
        for k in range(match.start, match.end):
            taken[k] = True
        chosen.append(match)
    chosen.sort(key=lambda m: m.start)
    return chosen


@dataclass(frozen=True, slots=True)
class Replacement:
    """Characters ``start:end`` of the text become ``text``."""

    start: int
    end: int
    text: str
    rule: CorrectionRule


def replacements(text: str, rules: Sequence[CorrectionRule]) -> list[Replacement]:
    """Where the rules rewrite ``text``, keeping the punctuation around each match."""
    if not rules or not text.strip():
        return []
    tokens = tokenize(text)
    out = []
    for match in find_matches(tokens, rules):
        first, last = tokens[match.start], tokens[match.end - 1]
        lead = first.raw[: first.raw.find(first.text)] if first.text else ""
        trail = last.raw[last.raw.find(last.text) + len(last.text) :] if last.text else last.raw
        new = f"{lead}{match.rule.target}{trail}" if match.rule.target else ""
        out.append(Replacement(first.start, last.end, new, match.rule))
    return out


def rewrite_text(text: str, rules: Sequence[CorrectionRule]) -> tuple[str, list[Replacement]]:
    """``text`` with the rules applied (whitespace collapsed when anything fired)."""
    edits = replacements(text, rules)
    if not edits:
        return text, []
    out: list[str] = []
    cursor = 0
    for edit in edits:
        out.append(text[cursor : edit.start])
        out.append(edit.text)
        cursor = edit.end
    out.append(text[cursor:])
    return " ".join("".join(out).split()), edits
