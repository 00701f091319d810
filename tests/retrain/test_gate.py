"""The gate's rules, each shown to pass and to fail, on crafted evidence."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.scoring import ErrorCounts
from retrain.pipeline.gate import (
    DecodingCost,
    GateCheck,
    GateConfig,
    GateEvidence,
    ScoredSegment,
    check_replicates_no_harm,
    compression_ratio,
    decide,
)
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
    assert len(decision.reasons) == len(decision.checks) == 8
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
    def no_loops(_evidence: GateEvidence, _config: GateConfig) -> GateCheck:
        return GateCheck("no repetition loops", False, "segment x has compression ratio 3.1")

    d = decide(GateEvidence(GOOD_HELDOUT), extra_checks=[no_loops])
    assert d.decision == "rejected" and d.reasons == ("segment x has compression ratio 3.1",)


def test_the_other_models_of_a_training_are_checked_for_harm_pooled() -> None:
    def counts(errors: int, words: int = 300) -> ErrorCounts:
        return ErrorCounts(errors, 0, 0, words)

    config = GateConfig()
    # the reference set as the evidence scored it: factory 17 errors on 300 words
    reference = [seg(f"c{i}", 1, 1, words=30, fact=2 if i < 7 else 1) for i in range(10)]
    # each fold model 1 word worse on 300 (+0.33 points): pooled +0.33, allowed
    ok = check_replicates_no_harm("reference", [counts(18)] * 2, reference, config)
    assert ok.passed and ok.values["models"] == 2 and ok.values["words"] == 600
    assert ok.values["factory_wer"] == pytest.approx(17 / 300)
    # one fold model 5 words worse, the other none: pooled +0.83 points, refused
    bad = check_replicates_no_harm("reference", [counts(22), counts(17)], reference, config)
    assert not bad.passed
    assert "2 models" in bad.reason and "+0.83 points" in bad.reason
    # better than the factory passes; no other models (a fixed held-out set) passes
    assert check_replicates_no_harm("reference", [counts(10)], reference, config).passed
    assert check_replicates_no_harm("reference", [], reference, config).passed
    # and it counts in the decision like every check, on the evidence's reference set
    d = decide(
        GateEvidence(GOOD_HELDOUT, reference_set=tuple(reference)),
        extra_checks=[
            lambda e, c: check_replicates_no_harm(
                "reference", [counts(22), counts(17)], e.reference_set, c
            )
        ],
    )
    assert d.decision == "rejected" and d.reasons == (bad.reason,)


def test_bootstrap_is_seeded_and_resamples_units() -> None:
    units = [PairedUnit(f"r{i}", 10, i % 3, 2) for i in range(30)]
    a = paired_bootstrap(units, seed=1)
    assert a == paired_bootstrap(units, seed=1)
    assert a.low <= a.difference <= a.high
    assert a.units == 30
    assert paired_bootstrap([]).units == 0


def test_the_slice_check_covers_speakers_and_names_the_worst_slice() -> None:
    # Speaker B's segments are spread over recordings too small to be slices (20 words
    # each): only the speaker slice (60 words) can catch that B got worse.
    speakers = [seg(f"r{i}", 1, 4, speaker="A") for i in range(20)] + [
        seg(f"q{i}", 3, 2, speaker="B", terms=0) for i in range(3)
    ]
    d = decide(GateEvidence(speakers))
    check = next(c for c in d.checks if c.name == "no slice much worse")
    assert not check.passed and "speaker B (60 words): 10.0% -> 15.0%" in check.reason
    assert check.values["speakers_checked"] == 2
    assert check.values["worst"]["slice"] == "speaker B" and check.values["worst"]["judged"]
    # too little data for any slice to be judged: the worst one is still named
    small = [seg("r1", 3, 2, words=20), seg("r2", 1, 2, words=20)]
    check = next(c for c in decide(GateEvidence(small)).checks if c.name == "no slice much worse")
    assert check.passed and check.values["checked"] == 0
    assert check.values["worst"]["slice"] == "recording r1" and not check.values["worst"]["judged"]
    assert "worst of 2: recording r1 at 15.0%" in check.reason
    # B no worse than the champion: passes, and B is still named as the worst slice
    fine = [*speakers[:20], *(seg(f"q{i}", 2, 2, speaker="B", terms=0) for i in range(3))]
    d = decide(GateEvidence(fine))
    check = next(c for c in d.checks if c.name == "no slice much worse")
    assert check.passed and "worst slice: speaker B at 10.0%" in check.reason
    # one speaker label only: the label is the whole set, no speaker slice is judged
    one = [replace(s, speaker="A") for s in fine]
    check = next(c for c in decide(GateEvidence(one)).checks if c.name == "no slice much worse")
    assert check.values["speakers_checked"] == 0


def test_a_repetition_loop_on_any_evaluated_segment_rejects() -> None:
    loop = "we need to ship it " * 12
    assert compression_ratio(loop) > 2.4
    sentence = "Okonkwo is still chasing the p99 latency regression we saw after Tuesday's deploy."
    assert compression_ratio(sentence) < 1.5 and compression_ratio("") == 0.0
    clean = [replace(s, candidate_text=sentence) for s in GOOD_HELDOUT]
    d = decide(GateEvidence(clean))
    assert d.promoted
    check = next(c for c in d.checks if c.name == "no repetition loops")
    assert check.passed and check.values["segments"] == 20
    # one looping segment, on the reference set only, is enough
    looping_ref = [replace(seg("g", 0, 0, words=100), segment_id="ref:x", candidate_text=loop)]
    d = decide(GateEvidence(clean, reference_set=looping_ref))
    assert d.decision == "rejected"
    assert d.reasons == (next(c for c in d.checks if c.name == "no repetition loops").reason,)
    assert "ref:x" in d.reasons[0]
    # the threshold is configurable
    assert decide(
        GateEvidence(clean, reference_set=looping_ref), GateConfig(max_compression_ratio=10)
    ).promoted


def test_a_candidate_decoding_more_than_twice_as_slow_as_the_champion_is_refused() -> None:
    slow = DecodingCost(candidate_rtf=0.21, champion_rtf=0.10, audio_seconds=32, clips=5)
    d = decide(GateEvidence(GOOD_HELDOUT, decoding_cost=slow))
    assert d.decision == "rejected"
    assert len(d.reasons) == 1 and "2.10x, allowed 2.00x" in d.reasons[0]
    ok = DecodingCost(candidate_rtf=0.199, champion_rtf=0.10, audio_seconds=32, clips=5)
    d = decide(GateEvidence(GOOD_HELDOUT, decoding_cost=ok))
    assert d.promoted
    check = next(c for c in d.checks if c.name == "decoding cost")
    assert check.values["ratio"] == pytest.approx(1.99)
    assert decide(
        GateEvidence(GOOD_HELDOUT, decoding_cost=slow), GateConfig(max_rtf_ratio=2.5)
    ).promoted
    assert not decide(
        GateEvidence(GOOD_HELDOUT, decoding_cost=ok), GateConfig(max_rtf_ratio=1.1)
    ).promoted
