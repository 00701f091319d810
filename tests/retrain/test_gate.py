"""The gate's rules, each shown to pass and to fail, on crafted evidence."""

from __future__ import annotations

from engine.scoring import ErrorCounts
from retrain.pipeline.gate import GateCheck, GateConfig, GateEvidence, ScoredSegment, decide
from retrain.pipeline.stats import PairedUnit, paired_bootstrap


def seg(
    rec: str,
    cand: int,
    champ: int,
    words: int = 20,
    terms: int = 2,
    speaker: str | None = None,
    fact: int | None = None,
    ins: int = 0,
) -> ScoredSegment:
    return ScoredSegment(
        f"{rec}-{cand}-{champ}",
        rec,
        speaker,
        ErrorCounts(cand - ins, 0, ins, words),
        ErrorCounts(champ, 0, 0, words),
        ErrorCounts(champ if fact is None else fact, 0, 0, words),
        terms,
    )


GOOD_HELDOUT = [seg(f"r{i}", 1, 4) for i in range(20)]  # 400 words, 40 term occurrences


def test_clear_improvement_is_promoted_with_every_reason() -> None:
    decision = decide(GateEvidence(GOOD_HELDOUT))
    assert decision.decision == "promoted"
    assert len(decision.reasons) == len(decision.checks) == 6
    assert decision.bootstrap is not None and decision.bootstrap.high < 0


def test_too_few_words_or_terms_is_insufficient_evidence() -> None:
    few = decide(GateEvidence(GOOD_HELDOUT[:5]))
    assert few.decision == "insufficient evidence"
    assert "100 reference words (need 200)" in few.reasons[0]
    no_terms = [seg(f"r{i}", 1, 4, terms=0) for i in range(20)]
    assert decide(GateEvidence(no_terms)).decision == "insufficient evidence"
    relaxed = GateConfig(min_heldout_words=50, min_term_occurrences=5)
    assert decide(GateEvidence(GOOD_HELDOUT[:5]), relaxed).decision == "promoted"


def test_noisy_improvement_is_rejected_by_the_bootstrap() -> None:
    # Better on most recordings, much worse on some: the CI straddles 0.
    mixed = [seg(f"r{i}", 2, 4) for i in range(14)] + [seg(f"s{i}", 9, 4) for i in range(6)]
    decision = decide(GateEvidence(mixed), GateConfig(slice_min_words=1000))
    assert decision.decision == "rejected"
    assert any("not entirely below 0" in r for r in decision.reasons)


def test_small_relative_improvement_is_rejected() -> None:
    tiny = [seg(f"r{i}", 19, 20, words=100) for i in range(20)]  # 20% -> 19%: 5% relative...
    assert decide(GateEvidence(tiny)).decision == "promoted"
    tinier = [seg(f"r{i}", 39, 40, words=100) for i in range(20)]  # 2.5% relative
    decision = decide(GateEvidence(tinier))
    assert decision.decision == "rejected"
    assert any("need >= 5%" in r for r in decision.reasons)


def test_harm_on_unchanged_or_reference_set_rejects_against_champion_and_factory() -> None:
    unchanged_hurt = [seg("u", 1, 0, words=100)]  # +1 point vs both
    d = decide(GateEvidence(GOOD_HELDOUT, unchanged=unchanged_hurt))
    assert d.decision == "rejected"
    assert any("reviewed-unchanged segments" in r for r in d.reasons)
    # better than the champion but worse than the factory is still harm
    ref = [seg("g", 2, 3, words=100, fact=0)]
    d = decide(GateEvidence(GOOD_HELDOUT, reference_set=ref))
    assert d.decision == "rejected"
    assert any("general reference set" in r and "factory" in r for r in d.reasons)
    within = [seg("g", 1, 1, words=300, fact=0)]  # +0.33 points: allowed
    assert decide(GateEvidence(GOOD_HELDOUT, reference_set=within)).promoted


def test_a_much_worse_recording_or_speaker_slice_rejects() -> None:
    big_worse = [seg("big", 12, 10, words=60, terms=0)]
    d = decide(GateEvidence(GOOD_HELDOUT + big_worse))
    assert d.decision == "rejected"
    assert any("recording big" in r for r in d.reasons)
    small_worse = [seg("small", 12, 10, words=40, terms=0)]  # under 50 words: not a slice
    assert decide(GateEvidence(GOOD_HELDOUT + small_worse)).promoted
    speakers = [seg(f"r{i}", 1, 4, speaker="A") for i in range(20)] + [
        seg(f"q{i}", 3, 2, speaker="B", terms=0) for i in range(3)
    ]
    d = decide(GateEvidence(speakers))
    assert d.decision == "rejected"
    assert any("speaker B" in r for r in d.reasons)


def test_insertion_rate_rise_rejects() -> None:
    inserting = [seg(f"r{i}", 3, 4, ins=2) for i in range(20)]  # +10 points of insertions
    d = decide(GateEvidence(inserting))
    assert d.decision == "rejected"
    assert any("insertion rate" in r for r in d.reasons)


def test_extra_checks_count() -> None:
    def no_loops(_evidence: GateEvidence) -> GateCheck:
        return GateCheck("no repetition loops", False, "segment x has compression ratio 3.1")

    d = decide(GateEvidence(GOOD_HELDOUT), extra_checks=[no_loops])
    assert d.decision == "rejected" and d.reasons == ("segment x has compression ratio 3.1",)


def test_bootstrap_is_seeded_and_resamples_units() -> None:
    units = [PairedUnit(f"r{i}", 10, i % 3, 2) for i in range(30)]
    a = paired_bootstrap(units, seed=1)
    assert a == paired_bootstrap(units, seed=1)
    assert a.low <= a.difference <= a.high
    assert a.units == 30
    assert paired_bootstrap([]).units == 0
