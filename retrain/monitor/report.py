"""``MonitorReport``: everything one monitor run found, as frozen, JSON-safe values.

The app's Model health panel, ``tiro monitor`` (text, JSON, HTML) and the retraining
trigger all read this one value. Rates are fractions (0.12 = 12 %); times are ISO-8601
UTC text; ``None`` means "not enough data to say".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from retrain.monitor.serialize import from_jsonable, to_jsonable

REPORT_FORMAT = 1


@dataclass(frozen=True)
class EditRatePoint:
    """Field edit rate of one model version in one ISO week (``week``: its Monday)."""

    version: str
    week: str
    segments: int
    words: int
    errors: int
    rate: float | None


@dataclass(frozen=True)
class VersionEditRate:
    """Field edit rate of one model version over all its reviewed segments."""

    version: str
    segments: int
    words: int
    errors: int
    rate: float | None
    first_reviewed: str | None = None
    last_reviewed: str | None = None


@dataclass(frozen=True)
class CalibrationBucket:
    """Hypothesis words whose probability is in ``[low, high)`` and how many were edited."""

    low: float
    high: float
    words: int
    edited: int
    rate: float | None
    mean_probability: float | None = None


@dataclass(frozen=True)
class DriftResult:
    """One input feature, recent inputs against the champion's training/evaluation data."""

    feature: str
    test: str
    statistic: float | None
    p_value: float | None
    reference_n: int
    current_n: int
    drifted: bool
    note: str = ""


@dataclass(frozen=True)
class HealthSummary:
    """Numerical and output health of recent ASR output (counts of segments)."""

    segments: int = 0
    non_finite_logprob: int = 0
    empty_output: int = 0
    high_compression: int = 0
    repeated_ngrams: int = 0
    text_over_silence: int = 0
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class PerformanceSummary:
    """Real-time factor and peak memory per transcription, recent runs against a baseline."""

    runs: int = 0
    recent_rtf: float | None = None
    baseline_rtf: float | None = None
    recent_peak_mb: float | None = None
    baseline_peak_mb: float | None = None
    per_version: dict[str, dict[str, float | None]] = field(default_factory=dict)
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrainingCost:
    """One finished training run's wall time and peak memory (from its stored report)."""

    run_id: int
    started_at: str
    examples: int
    seconds: float
    seconds_per_example: float | None = None
    peak_rss_mb: float | None = None
    finetune_seconds: float | None = None
    finetune_peak_rss_mb: float | None = None


@dataclass(frozen=True)
class TrainingPerformance:
    """Training speed and memory: every finished run, the newest against a baseline."""

    runs: tuple[TrainingCost, ...] = ()
    baseline_seconds_per_example: float | None = None
    baseline_peak_rss_mb: float | None = None
    baseline_finetune_peak_rss_mb: float | None = None
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class DataQuality:
    """The data contract's output: examples and rejections per reason."""

    candidates: int = 0
    examples: int = 0
    corrections: int = 0
    rejections: dict[str, int] = field(default_factory=dict)
    consent_enabled: bool = False


@dataclass(frozen=True)
class Staleness:
    """How old the champion is and what it has not seen."""

    champion_since: str | None = None
    champion_age_days: float | None = None
    trained_at: str | None = None
    new_examples_since_training: int = 0
    new_vocabulary_since_training: int = 0
    new_vocabulary_sample: tuple[str, ...] = ()


@dataclass(frozen=True)
class StalenessPoint:
    """Model 4: one week's field edit rate beside the champion's age and new vocabulary."""

    week: str
    version: str
    age_days: float
    new_vocabulary: int
    rate: float | None
    words: int


@dataclass(frozen=True)
class LastTraining:
    """The last training run: before/after on held-out data and the gate's reasons."""

    run_id: int
    status: str
    started_at: str
    finished_at: str | None
    decision: str
    reasons: tuple[str, ...]
    promoted_candidate: str | None
    champion_before: str | None
    champion_after: str | None
    heldout_words: int | None = None
    heldout_before_wer: float | None = None  # the champion at the time
    heldout_after_wer: float | None = None  # the best (or promoted) candidate
    heldout_factory_wer: float | None = None
    candidates: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class PromotionPair:
    """Model 2: the gate's predicted held-out WER gain beside the measured field change."""

    run_id: int
    version: str
    predecessor: str
    promoted_at: str
    predicted_gain: float | None  # champion WER - candidate WER on held-out data
    measured_gain: float | None  # predecessor's field edit rate - this version's
    predecessor_words: int = 0
    version_words: int = 0


@dataclass(frozen=True)
class OfflineOnline:
    pairs: tuple[PromotionPair, ...] = ()
    correlation: float | None = None  # Pearson, once ``min_pairs`` pairs are measured
    min_pairs: int = 3


@dataclass(frozen=True)
class CanaryOutcome:
    """The canary of the latest promotion: pending, passed or rolled back.

    ``rolled_back`` is ``True`` only for the check that moved the champion back.
    """

    rolled_back: bool
    reason: str
    version: str = ""
    predecessor: str = ""
    state: str = "pending"  # pending | passed | failed (rolled back)
    segments: int = 0
    needed: int = 0
    version_words: int = 0
    version_errors: int = 0
    predecessor_words: int = 0
    predecessor_errors: int = 0
    version_rate: float | None = None
    predecessor_rate: float | None = None
    p_value: float | None = None
    test: str = ""
    checked_at: str = ""


@dataclass(frozen=True)
class DependencyCheck:
    """Monitoring 1: library and model-file versions now against the champion's record."""

    current: dict[str, str] = field(default_factory=dict)
    recorded: dict[str, str] = field(default_factory=dict)
    changed: tuple[str, ...] = ()
    action: str = "none"  # none | unrecorded | verified | rolled_back | unverifiable
    champion_wer: float | None = None
    factory_wer: float | None = None
    words: int = 0
    detail: str = ""


@dataclass(frozen=True)
class MonitorEvent:
    """Something the monitor did or found that the user should be told about."""

    at: str
    kind: str  # rollback | dependency_change | drift | health | performance | ...
    message: str
    version: str | None = None


@dataclass(frozen=True)
class MonitorReport:
    created_at: str
    champion_version: str
    champion_kind: str  # base | personal
    previous_version: str | None = None
    report_id: int | None = None
    format: int = REPORT_FORMAT
    edit_rates: tuple[EditRatePoint, ...] = ()
    version_rates: tuple[VersionEditRate, ...] = ()
    calibration: tuple[CalibrationBucket, ...] = ()  # every reviewed segment
    calibration_by_version: dict[str, tuple[CalibrationBucket, ...]] = field(default_factory=dict)
    drift: tuple[DriftResult, ...] = ()
    health: HealthSummary = field(default_factory=HealthSummary)
    performance: PerformanceSummary = field(default_factory=PerformanceSummary)
    training_performance: TrainingPerformance = field(default_factory=TrainingPerformance)
    data_quality: DataQuality = field(default_factory=DataQuality)
    staleness: Staleness = field(default_factory=Staleness)
    staleness_series: tuple[StalenessPoint, ...] = ()
    last_training: LastTraining | None = None
    offline_online: OfflineOnline = field(default_factory=OfflineOnline)
    canary: CanaryOutcome | None = None
    dependencies: DependencyCheck = field(default_factory=DependencyCheck)
    flags: tuple[str, ...] = ()
    events: tuple[MonitorEvent, ...] = ()
    headline: str = ""  # one sentence: is Tiro getting better for this person?

    @property
    def drifted(self) -> bool:
        return any(d.drifted for d in self.drift)

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MonitorReport:
        return from_jsonable(cls, data)
