"""``engine.guard.overrule``: where fine-tuned text may replace the factory model's.

Pure text logic on hand-made segments (what the two models wrote is the input here; the
real models are served guarded in ``tests/finetune/test_serving.py``)."""

from __future__ import annotations

from engine.guard import overrule, term_keys
from engine.types import Segment, Word

TERMS = ["Okonkwo", "Przybylski", "Nguyen-Tran"]


def _segment(
    text: str,
    start: float,
    step: float = 0.5,
    words: bool = True,
    parts: list[str] | None = None,
) -> Segment:
    """``parts``: the word timings' words, when they split the text as Whisper's do
    ("Nguyen", "-Tran"); by default its whitespace-separated tokens."""
    parts = parts or text.split()
    timed = tuple(
        Word(p, round(start + k * step, 3), round(start + (k + 1) * step, 3), 0.9)
        for k, p in enumerate(parts)
    )
    end = round(start + len(parts) * step, 3)
    return Segment(start, end, text, timed if words else (), avg_logprob=-0.3)


def test_a_difference_without_a_term_keeps_the_factory_text() -> None:
    factory = [_segment("Unless to be rather cold-hearted and selfish.", 0.0)]
    tuned = [_segment("Unless to be rather coldhearted and selfish.", 0.0)]
    assert overrule(factory, tuned, TERMS) == factory


def test_a_difference_that_says_a_term_takes_the_tuned_words_with_their_times() -> None:
    factory = [_segment("Okon Kwo is still chasing the latency.", 1.0)]
    tuned = [_segment("Okonkwo is still chasing the latency.", 1.2, step=0.6)]
    (out,) = overrule(factory, tuned, TERMS)
    assert out.text == "Okonkwo is still chasing the latency."
    assert out.words[0] == tuned[0].words[0]  # the tuned word, with its own timing
    assert out.words[1:] == factory[0].words[2:]  # the rest is the factory's, untouched
    assert (out.start, out.end, out.avg_logprob) == (1.0, factory[0].end, -0.3)


def test_only_the_stretches_with_a_term_change_in_one_segment() -> None:
    factory = [_segment("I paired with Shibilsky on the al-embic migration today.", 0.0)]
    tuned = [_segment("I paired with Przybylski on the Alembic migration to day.", 0.0)]
    (out,) = overrule(factory, tuned, TERMS)
    # "Alembic" and "to day" are not terms here: the factory's words stand there
    assert out.text == "I paired with Przybylski on the al-embic migration today."


def test_case_and_punctuation_are_not_differences() -> None:
    factory = [_segment("okonkwo, is here", 0.0)]
    tuned = [_segment("Okonkwo is here.", 0.0)]
    assert overrule(factory, tuned, TERMS) == factory


def test_a_term_the_two_models_partly_agree_on_is_taken_whole() -> None:
    # only "Newy and" / "Nguyen" differ; "Tran" is common to both sides
    factory = [_segment("Newy and Tran is refactoring the settings.", 0.0)]
    tuned = [
        _segment(
            "Nguyen-Tran is refactoring the settings.",
            0.0,
            parts=["Nguyen", "-Tran", "is", "refactoring", "the", "settings."],
        )
    ]
    (out,) = overrule(factory, tuned, TERMS)
    assert out.text == "Nguyen-Tran is refactoring the settings."


def test_words_the_tuned_side_leaves_out_inside_a_term_go() -> None:
    factory = [_segment("Ask Nguyen the Tran about it.", 0.0)]
    tuned = [_segment("Ask Nguyen Tran about it.", 0.0)]
    (out,) = overrule(factory, tuned, TERMS)
    assert out.text == "Ask Nguyen Tran about it."
    # a left-out word that is not inside a term stays
    plain = [_segment("Ask Nguyen Tran about it.", 0.0)]
    assert overrule(plain, [_segment("Ask Nguyen Tran it.", 0.0)], TERMS) == plain


def test_a_rebuilt_segment_keeps_words_written_together_together() -> None:
    factory = [
        _segment(
            "Okon Kwo watched the P-99 latency.",
            0.0,
            parts=["Okon", "Kwo", "watched", "the", "P", "-99", "latency."],
        )
    ]
    tuned = [
        _segment(
            "Okonkwo watched the P-99 latency.",
            0.0,
            parts=["Okonkwo", "watched", "the", "P", "-99", "latency."],
        )
    ]
    (out,) = overrule(factory, tuned, TERMS)
    assert out.text == "Okonkwo watched the P-99 latency."


def test_segments_nothing_changed_in_are_returned_as_they_were() -> None:
    factory = [_segment("Good morning everyone.", 0.0), _segment("Nuen Tran fixed it.", 2.0)]
    tuned = [_segment("Good morning, everyone.", 0.0), _segment("Nguyen-Tran fixed it.", 2.0)]
    first, second = overrule(factory, tuned, TERMS)
    assert first is factory[0]
    assert second.text == "Nguyen-Tran fixed it." and second.start == 2.0


def test_a_replaced_stretch_across_two_segments_goes_to_the_first() -> None:
    factory = [_segment("We met Okon", 0.0), _segment("Kwo yesterday.", 1.5)]
    tuned = [_segment("We met Okonkwo yesterday.", 0.0)]
    first, second = overrule(factory, tuned, TERMS)
    assert first.text == "We met Okonkwo" and second.text == "yesterday."


def test_segments_without_word_timings_are_compared_by_their_text() -> None:
    factory = [_segment("Ask Shibilsky about it.", 0.0, words=False)]
    tuned = [_segment("Ask Przybylski about it!", 0.0, words=False)]
    (out,) = overrule(factory, tuned, TERMS)
    assert out.text == "Ask Przybylski about it." and out.words == ()


def test_text_the_factory_model_did_not_hear_at_all() -> None:
    # one stretch (all of it) that says a term: the tuned text, as it segmented it
    tuned = [_segment("Okonkwo.", 0.0), _segment("Thanks.", 1.0)]
    assert [s.text for s in overrule([], tuned, TERMS)] == ["Okonkwo.", "Thanks."]
    assert overrule([], [_segment("Thanks.", 0.0)], TERMS) == []


def test_no_terms_means_the_factory_text() -> None:
    factory = [_segment("Okon Kwo is here.", 0.0)]
    tuned = [_segment("Okonkwo is here.", 0.0)]
    assert overrule(factory, tuned, []) == factory
    assert overrule(factory, [], TERMS) == factory


def test_terms_are_compared_as_normalized_words() -> None:
    assert term_keys(["Nguyen-Tran", "Kästner", "  ", "p99 latency"]) == (
        ("kastner",),
        ("nguyen", "tran"),
        ("p", "99", "latency"),  # as Whisper's normalizer splits it, on both sides
    )
