"""The monitor's statistics on crafted telemetry (written through the store API)."""

from __future__ import annotations

import math

import pytest
from monitorkit import add_reviewed, add_training_run, add_version, set_champion, ten_words

from retrain.monitor import MonitorReport, latest_report, report_history, run_monitor
from retrain.monitor.drift import DriftConfig
from retrain.monitor.run import MonitorConfig
from retrain.monitor.statistics import pearson
from retrain.store import Store

WEEK1 = "2026-11-02T10:00:00.000000Z"  # a Monday
WEEK1_LATER = "2026-11-05T10:00:00.000000Z"
WEEK2 = "2026-11-10T10:00:00.000000Z"
WEEK3 = "2026-11-17T10:00:00.000000Z"


@pytest.fixture
def store(tiro_home):
    with Store.open(auto_snippets=False) as s:
        yield s


def test_field_edit_rate_per_version_and_week(store: Store) -> None:
    add_reviewed(
        store,
        "base-x",
        [
            ("the quick brown fox jumps", "the quick brown fox jumps"),
            ("hello world again today", "hello word again today"),
        ],
        at=WEEK1,
    )
    add_reviewed(store, "base-x", [("one more thing here", "one more thing there")], at=WEEK1_LATER)
    add_version(store, "p1")
    add_reviewed(store, "p1", [("alpha beta gamma delta", "alpha beta gamma delta")], at=WEEK2)
    # unreviewed output does not count
    add_reviewed(store, "p1", [("never looked at", "never looked at")], reviewed=False, at=WEEK2)
    report = run_monitor(store)
    points = {(p.version, p.week): p for p in report.edit_rates}
    factory = points[("factory", "2026-11-02")]
    assert (factory.segments, factory.words, factory.errors) == (3, 13, 2)
    assert factory.rate == pytest.approx(2 / 13)
    p1 = points[("p1", "2026-11-09")]
    assert (p1.segments, p1.words, p1.errors, p1.rate) == (1, 4, 0, 0.0)
    assert report.headline.startswith("Not enough reviewed text from the model in use")
    rates = {v.version: v for v in report.version_rates}
    assert rates["factory"].rate == pytest.approx(2 / 13) and rates["p1"].rate == 0.0


def test_calibration_low_confidence_words_are_the_edited_ones(store: Store) -> None:
    add_reviewed(store, "base", [("kuber nettis cluster", "kubernetes cluster")], probability=0.3)
    add_reviewed(
        store, "base", [("we shipped the release", "we shipped the release")], probability=0.97
    )
    buckets = {b.low: b for b in run_monitor(store).calibration}
    low, high = buckets[0.0], buckets[0.95]
    assert low.words == 3 and low.edited == 2  # "kuber nettis" edited, "cluster" kept
    assert high.words == 4 and high.edited == 0 and high.rate == 0.0
    assert sum(b.words for b in buckets.values()) == 7
    add_version(store, "p1")
    add_reviewed(store, "p1", [("kubectl apply now", "kubectl apply now")], probability=0.3)
    report = run_monitor(store)
    low_by_version = {v: b[0] for v, b in report.calibration_by_version.items()}
    assert (low_by_version["factory"].words, low_by_version["factory"].edited) == (3, 2)
    assert (low_by_version["p1"].words, low_by_version["p1"].edited) == (3, 0)
    assert report.calibration[0].words == 6


def test_output_health_flags(store: Store) -> None:
    add_reviewed(store, "base", [("fine words here", "fine words here")] * 4)
    add_reviewed(store, "base", [("what a loop", "what a loop")], avg_logprob=-math.inf)
    add_reviewed(store, "base", [("thank you thank you", "thank you")], compression_ratio=3.1)
    add_reviewed(store, "base", [("go go go go go now", "go now")])
    add_reviewed(store, "base", [("thanks for watching", "")], no_speech_prob=0.9, avg_logprob=-1.4)
    h = run_monitor(store).health
    assert h.segments == 8
    assert h.non_finite_logprob == 1
    assert h.high_compression == 1
    assert h.repeated_ngrams == 1
    assert h.text_over_silence == 1
    assert h.empty_output == 0
    assert any("NaN or infinite" in f for f in h.flags)
    assert any("compression ratio" in f for f in h.flags)


def _transcription_runs(store: Store, count: int, wall_seconds: float, peak_rss_mb: float):
    for _ in range(count):
        store.record_transcription_run(
            transcript_id=None,
            model_version="base",
            backend="ct2",
            audio_seconds=60,
            wall_seconds=wall_seconds,
            peak_rss_mb=peak_rss_mb,
        ).result()


def test_performance_against_the_rolling_baseline(store: Store) -> None:
    _transcription_runs(store, 20, wall_seconds=6, peak_rss_mb=300)
    report = run_monitor(store)
    assert report.performance.recent_rtf == pytest.approx(0.1)
    assert report.performance.flags == ()
    _transcription_runs(store, 5, wall_seconds=18, peak_rss_mb=310)
    report = run_monitor(store)
    assert report.performance.recent_rtf == pytest.approx(0.3)
    assert report.performance.baseline_rtf == pytest.approx(0.1)
    assert len(report.performance.flags) == 1 and "real-time factor" in report.performance.flags[0]
    assert any("real-time factor" in f for f in report.flags)


def test_input_drift_needs_a_real_difference_and_enough_samples(store: Store) -> None:
    config = MonitorConfig(drift=DriftConfig(baseline_size=25))

    def recordings(count: int, seconds: float, loudness: float) -> None:
        for i in range(count):
            said = [("some words said", "some words said")]
            add_reviewed(
                store, "base", said, seconds=seconds + 0.05 * i, loudness=loudness - 0.1 * i
            )

    recordings(25, seconds=3.0, loudness=-20.0)
    recordings(10, seconds=12.0, loudness=-38.0)  # too few recent segments: no verdict
    drift = {d.feature: d for d in run_monitor(store, config=config).drift}
    assert not any(d.drifted for d in drift.values())
    assert "too few" in drift["duration"].note and drift["duration"].current_n == 10
    recordings(15, seconds=12.0, loudness=-38.0)
    report = run_monitor(store, config=config)
    drift = {d.feature: d for d in report.drift}
    assert drift["duration"].drifted and drift["duration"].p_value < 0.05
    assert drift["loudness_dbfs"].drifted
    assert not drift["sample_rate"].drifted  # all 16 kHz
    assert not drift["avg_logprob"].drifted  # unchanged
    assert drift["duration"].test == "two-sample Kolmogorov-Smirnov"
    assert any("input drift in duration" in f for f in report.flags)


def test_staleness_new_vocabulary_and_model4_series(store: Store) -> None:
    add_reviewed(store, "base", [("we deploy the service", "we deploy the service")], at=WEEK1)
    add_reviewed(store, "base", [("cube control apply", "kubectl apply")], at=WEEK2)
    add_reviewed(store, "base", [("the grafana board", "the grafana dashboard")], at=WEEK3)
    report = run_monitor(store)
    s = report.staleness
    assert s.champion_since == WEEK1
    assert s.champion_age_days is not None and s.champion_age_days > 20
    assert set(s.new_vocabulary_sample) >= {"kubectl", "dashboard"}
    series = {(p.version, p.week): p for p in report.staleness_series}
    assert series[("factory", "2026-11-09")].new_vocabulary == 1  # kubectl
    assert series[("factory", "2026-11-16")].new_vocabulary == 2  # + dashboard
    assert series[("factory", "2026-11-16")].age_days == pytest.approx(15.0)
    assert series[("factory", "2026-11-02")].rate == 0.0


def test_offline_gain_beside_field_gain_per_promotion(store: Store) -> None:
    # factory: 30 % field edit rate; p1 promoted predicting 5 points, measured 10;
    # p2 predicting 10, measured 20; p3 predicting 3, measured 0 (60 words a side)
    add_reviewed(store, "base", [ten_words(3, i) for i in range(12)], at=WEEK1)
    chain = [
        ("p1", 0.05, 2, "2026-11-03"),
        ("p2", 0.10, 0, "2026-11-04"),
        ("p3", 0.03, 0, "2026-11-05"),
    ]
    before = "factory"
    for version, predicted, errors, day in chain:
        run = add_training_run(
            store,
            started_at=f"{day}T00:00:00.000000Z",
            finished_at=f"{day}T01:00:00.000000Z",
            before=before,
            after=version,
            champion_wer=0.3,
            candidate_wer=0.3 - predicted,
        )
        add_version(
            store, version, parent=before, created_at=f"{day}T01:00:00.000000Z", training_run_id=run
        )
        add_reviewed(
            store, version, [ten_words(errors, i) for i in range(6)], at=f"{day}T12:00:00.000000Z"
        )
        before = version
    add_reviewed(store, "p3", [ten_words(0, i) for i in range(6)], at="2026-11-06T12:00:00.000000Z")
    set_champion(store, "p3", "p2")
    report = run_monitor(store)
    pairs = {p.version: p for p in report.offline_online.pairs}
    assert pairs["p1"].predicted_gain == pytest.approx(0.05)
    assert pairs["p1"].measured_gain == pytest.approx(0.10)
    assert pairs["p2"].measured_gain == pytest.approx(0.20)
    assert pairs["p3"].measured_gain == pytest.approx(0.0)
    assert pairs["p2"].predecessor == "p1"
    assert (pairs["p1"].predecessor_words, pairs["p1"].version_words) == (120, 60)
    assert pairs["p3"].version_words == 120
    expected = pearson([0.05, 0.10, 0.03], [0.10, 0.20, 0.0])
    assert report.offline_online.correlation == pytest.approx(expected)
    assert expected > 0.9
    assert report.headline == (
        "Your personalized model p3: you edited 0.0% of its words, against 30.0% with the "
        "factory model (fewer edits)."
    )
    t = report.last_training
    assert t is not None and t.champion_after == "p3"
    assert t.heldout_before_wer == pytest.approx(0.3) and t.heldout_after_wer == pytest.approx(0.27)
    assert t.reasons == ("held-out WER improves",)


def test_reports_persist_and_round_trip(store: Store) -> None:
    add_reviewed(store, "base", [("hello there", "hello their")])
    first = run_monitor(store)
    second = run_monitor(store)
    assert first.report_id and second.report_id and second.report_id > first.report_id
    assert latest_report(store) == second
    history = report_history(store, 10)
    assert [r.report_id for r in history] == [second.report_id, first.report_id]
    again = MonitorReport.from_dict(second.to_dict())
    assert again == second
    import json

    json.dumps(second.to_dict(), allow_nan=False)  # strictly JSON-safe


def test_only_the_newest_reports_are_kept(store: Store) -> None:
    from retrain.monitor.history import save_report

    report = run_monitor(store)
    for _ in range(6):
        save_report(store, report, keep=4)
    ids = store.read(lambda c: [r[0] for r in c.execute("SELECT id FROM monitor_reports")])
    assert ids == [4, 5, 6, 7]
    assert latest_report(store).report_id == 7


def test_drift_is_measured_against_the_champions_training_examples(store: Store) -> None:
    trained = []
    for i in range(22):
        _, ids = add_reviewed(
            store,
            "base",
            [("some words said", "some words said")],
            seconds=3.0 + 0.05 * i,
            at=WEEK1,
        )
        trained += ids
    for i in range(22):  # never used for training: not part of the reference
        add_reviewed(
            store, "base", [("other words", "other words")], seconds=20.0 + 0.1 * i, at=WEEK1
        )
    run = add_training_run(
        store, started_at="2026-11-10T00:00:00.000000Z", finished_at="2026-11-10T01:00:00.000000Z"
    )

    def record(conn) -> None:
        for sid in trained:
            conn.execute(
                "INSERT INTO training_examples VALUES (?, ?, 0, ?, 'train')", (run, f"e{sid}", sid)
            )

    store.write(record).result()
    add_version(store, "p1", created_at="2026-11-10T01:00:00.000000Z", training_run_id=run)
    set_champion(store, "p1")
    for i in range(22):
        add_reviewed(
            store, "p1", [("some words said", "some words said")], seconds=3.0 + 0.05 * i, at=WEEK3
        )
    drift = {d.feature: d for d in run_monitor(store).drift}
    assert drift["duration"].reference_n == 22 and drift["duration"].current_n == 22
    assert not drift["duration"].drifted  # same durations as the training examples
    for i in range(30):
        add_reviewed(
            store, "p1", [("some words said", "some words said")], seconds=9.0 + 0.1 * i, at=WEEK3
        )
    drift = {d.feature: d for d in run_monitor(store).drift}
    assert drift["duration"].drifted and drift["duration"].current_n == 52
