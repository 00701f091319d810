"""Word alignment keeps the user's spellings and finds multi-word substitution spans."""

from __future__ import annotations

from retrain.learn.align import align, tokenize


def spans(hypothesis: str, reference: str) -> list[tuple[tuple[str, ...], str]]:
    return [(s.source, s.target) for s in align(hypothesis, reference).spans]


def test_identical_texts_have_no_spans() -> None:
    result = align("Hello, world.", "hello world")
    assert result.spans == ()
    assert result.matched_words == 2


def test_two_words_become_one_term_in_the_users_spelling() -> None:
    assert spans("I ran cube control again.", "I ran kubectl again.") == [
        (("cube", "control"), "kubectl")
    ]
    assert spans("The pie side client", "The PySide client") == [(("pie", "side"), "PySide")]


def test_one_word_becomes_two() -> None:
    assert spans("the bramblecrest export", "the Bramble Crest export") == [
        (("bramblecrest",), "Bramble Crest")
    ]


def test_possessive_clitic_is_split_off_and_matches() -> None:
    assert spans("Kestner's pull request", "Kästner's pull request") == [(("kestner",), "Kästner")]
    tokens = tokenize("I'm here, don't go")
    assert [t.text for t in tokens] == ["I", "'m", "here", "do", "n't", "go"]
    assert [t.norm for t in tokens] == [("i",), ("am",), ("here",), ("do",), ("not",), ("go",)]


def test_normalizer_equivalences_are_not_edits() -> None:
    # Whisper's normalizer spells out contractions and maps British spellings.
    assert spans("I am blocked on the colour", "I'm blocked on the color") == []


def test_insertion_and_deletion_spans() -> None:
    result = align("Thank you. Hello world", "Hello world")
    assert [(s.kind, s.source, s.target) for s in result.spans] == [
        ("deletion", ("thank", "you"), "")
    ]
    result = align("hello world", "hello big world")
    assert [(s.kind, s.target) for s in result.spans] == [("insertion", "big")]
    assert result.spans[0].hyp_tokens == (1, 1)


def test_a_span_is_widened_to_whole_tokens_on_both_sides() -> None:
    # "Nguyen-Tran" is one token with two normalized words; only "tran" differs,
    # but the rule must replace the whole token or it would duplicate "Nguyen".
    assert spans("Nguyen Tram found it", "Nguyen-Tran found it") == [
        (("nguyen", "tram"), "Nguyen-Tran")
    ]


def test_empty_sides() -> None:
    assert spans("", "hello") == [((), "hello")]
    assert spans("hello", "") == [(("hello",), "")]
