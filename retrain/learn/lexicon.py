"""The user lexicon: words the user keeps typing in where the model keeps getting them wrong.

Mining (``mine_lexicon``)
    Every reviewed pair is aligned (``retrain.learn.align``). A word of the reference
    that lies inside an edit span is one *corrected occurrence* of that word: the model
    did not produce it there, the user did. A word becomes a lexicon term when

    - it was corrected in at least ``min_support`` different examples (default 2: the
      user fixed it *repeatedly*; one fix may be a one-off), and
    - the model got it wrong in at least ``min_error_rate`` of all the reference
      occurrences of that word (default 0.5). This keeps out ordinary words that merely
      sit next to a fix ("is" in "Okon Kwois" -> "Okonkwo is"): the model writes those
      right almost everywhere else. No word list, stop list or language resource is
      involved: the user's own data decides, so it carries over to any domain.

    Words are compared in normalized form (Whisper's normalizer, so "Kästner" and
    "Kastner" are one word); a term is spelled the way the user spelled it most often.
    Terms are ranked by evidence: corrected occurrences, then error rate, then spelling.

Rendering (``render_prompt``)
    The lexicon reaches the decoder as an initial prompt, within a token budget (Whisper
    reads at most 223 prompt tokens; the default budget is lower, see ``PromptConfig``).
    Terms are added in rank order until the budget is full. Styles:

    - ``glossary``: "Kästner, Terraform, Okonkwo." — a comma-separated list;
    - ``sentence``: the same list inside a sentence ("Terms used here: ...");
    - ``examples``: for each term in rank order, one of the user's own corrected sentences
      containing it (previous-text style, which is what Whisper was trained to read);
    - ``examples+glossary``: the same, and a term whose sentences no longer fit is added
      as a bare word in a short list after the sentences.

    The default style and budget were chosen by cross-validated held-out WER
    (``tests/benchmarks/learning_ablation.py``), not by looking at any corpus's words.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from engine.bundle import LexiconTerm
from retrain.learn.align import Alignment, align, tokenize
from retrain.learn.pairs import TextPair

PromptStyle = Literal["glossary", "sentence", "examples", "examples+glossary"]
WHISPER_PROMPT_LIMIT = 223  # n_text_ctx // 2 - 1: what Whisper keeps of a prompt


@dataclass(frozen=True, slots=True)
class LexiconConfig:
    min_support: int = 2
    min_error_rate: float = 0.5
    max_terms: int = 200


@dataclass(frozen=True, slots=True)
class PromptConfig:
    style: PromptStyle = "examples+glossary"
    budget_tokens: int = 223


@dataclass(frozen=True, slots=True)
class TermEvidence:
    """Why a word is (or is not) in the lexicon."""

    key: tuple[str, ...]  # normalized words
    spelling: str
    corrected: int  # examples where the user had to type it
    occurrences: int  # examples where it is in the reference at all
    examples: tuple[str, ...]  # example ids of the corrected occurrences

    @property
    def error_rate(self) -> float:
        return self.corrected / self.occurrences if self.occurrences else 0.0


def term_evidence(
    pairs: Sequence[TextPair], alignments: Sequence[Alignment] | None = None
) -> list[TermEvidence]:
    """Evidence for every word the user introduced in a correction, unfiltered."""
    alignments = alignments or [align(p.hypothesis, p.reference) for p in pairs]
    corrected: dict[tuple[str, ...], set[str]] = defaultdict(set)
    spellings: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
    occurrences: Counter[tuple[str, ...]] = Counter()
    for pair, alignment in zip(pairs, alignments, strict=True):
        seen: set[tuple[str, ...]] = set()
        for token in alignment.ref:
            if token.norm and not token.attached:
                seen.add(token.norm)
        occurrences.update(seen)
        for span in alignment.spans:
            for token in alignment.ref[span.ref_tokens[0] : span.ref_tokens[1]]:
                if not token.norm or token.attached:
                    continue
                corrected[token.norm].add(pair.example_id)
                spellings[token.norm][token.text] += 1
    out = []
    for key, example_ids in corrected.items():
        spelling = sorted(spellings[key].items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        out.append(
            TermEvidence(
                key=key,
                spelling=spelling,
                corrected=len(example_ids),
                occurrences=max(occurrences[key], len(example_ids)),
                examples=tuple(sorted(example_ids)),
            )
        )
    out.sort(key=lambda e: (-e.corrected, -e.error_rate, e.spelling))
    return out


def mine_lexicon(
    pairs: Sequence[TextPair],
    config: LexiconConfig = LexiconConfig(),
    alignments: Sequence[Alignment] | None = None,
) -> tuple[LexiconTerm, ...]:
    """Lexicon terms ranked by evidence (see the module docstring for the rules)."""
    chosen = [
        e
        for e in term_evidence(pairs, alignments)
        if e.corrected >= config.min_support and e.error_rate >= config.min_error_rate
    ]
    return tuple(LexiconTerm(e.spelling, e.corrected) for e in chosen[: config.max_terms])


def render_prompt(
    terms: Sequence[LexiconTerm],
    config: PromptConfig,
    count_tokens: Callable[[str], int],
    references: Sequence[str] = (),
) -> str:
    """The initial prompt for ``terms``, within ``config.budget_tokens``; "" if none fit.

    ``references`` (the user's corrected texts) are needed by the ``examples`` style.
    """
    budget = min(config.budget_tokens, WHISPER_PROMPT_LIMIT)
    if not terms or budget <= 0:
        return ""
    if config.style in ("examples", "examples+glossary"):
        fallback = config.style == "examples+glossary"
        return _render_examples(terms, budget, count_tokens, references, fallback)
    render = _glossary if config.style == "glossary" else _sentence
    chosen: list[str] = []
    for term in terms:
        trial = render([*chosen, term.text])
        if count_tokens(trial) > budget:
            continue  # a shorter term further down may still fit
        chosen.append(term.text)
    return render(chosen) if chosen else ""


def _glossary(words: Sequence[str]) -> str:
    return ", ".join(words) + "." if words else ""


def _sentence(words: Sequence[str]) -> str:
    if not words:
        return ""
    listed = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    return f"Terms used here: {listed}."


def _render_examples(
    terms: Sequence[LexiconTerm],
    budget: int,
    count_tokens: Callable[[str], int],
    references: Sequence[str],
    glossary_fallback: bool = False,
) -> str:
    indexed = [(ref.strip(), {t.norm for t in tokenize(ref) if t.norm}) for ref in references]
    chosen: list[str] = []
    leftover: list[str] = []
    covered: set[tuple[str, ...]] = set()

    def render(sentences: list[str], extra: list[str]) -> str:
        return " ".join([*sentences, _glossary(extra)] if extra else sentences)

    for term in terms:
        key = next((t.norm for t in tokenize(term.text) if t.norm), None)
        if key is None or key in covered:
            continue
        candidates = sorted(
            (ref for ref, words in indexed if key in words and ref not in chosen),
            key=lambda ref: (count_tokens(ref), ref),
        )
        for ref in candidates:
            if count_tokens(render([*chosen, ref], leftover)) <= budget:
                chosen.append(ref)
                covered |= next(words for r, words in indexed if r == ref)
                break
        else:
            if glossary_fallback and count_tokens(render(chosen, [*leftover, term.text])) <= budget:
                leftover.append(term.text)
                covered.add(key)
    return render(chosen, leftover)
