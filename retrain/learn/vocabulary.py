"""The user's vocabulary: the uncommon words of the text they corrected.

What guards fine-tuned weights in serving (``engine.guard``): the fine-tuned model may
overrule the factory model only where it writes one of these words. A word of a
corrected segment's reference text is *uncommon* when the model's tokenizer does not
spell it (normalized, with the leading space of running text) as one token
(``engine.textrules.is_common_word``): names, jargon and longer words are, "the", "is",
"just" and "hearted" are not. No word list is involved, so it carries over to any
domain and any user.

Unlike the lexicon (``retrain.learn.lexicon``), a word needs no evidence that the model
got it wrong: the fine-tuned model learned the user's speech as a whole (in the
benchmark it writes "Zephyrine", which the factory model got right two times of three,
and "Kubernetes", which the user never had to correct), and the guard only has to keep
it off ordinary words.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

from engine.textrules import is_common_word, tokenize


def user_vocabulary(references: Sequence[str]) -> tuple[str, ...]:
    """Uncommon words of ``references``, each in the spelling the user used most, most
    frequent first (ties alphabetical)."""
    counts: Counter[tuple[str, ...]] = Counter()
    spellings: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
    for reference in references:
        for token in tokenize(reference):
            if not token.norm or token.attached or not token.text:
                continue
            if all(is_common_word(word) for word in token.norm):
                continue
            counts[token.norm] += 1
            spellings[token.norm][token.text] += 1
    ranked = sorted(counts, key=lambda key: (-counts[key], key))
    return tuple(
        sorted(spellings[key].items(), key=lambda kv: (-kv[1], kv[0]))[0][0] for key in ranked
    )
