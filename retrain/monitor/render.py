"""The monitor report as text (``tiro monitor``) and as one self-contained HTML file.

The HTML has no scripts, stylesheets, fonts or images from anywhere: styles are inline
and every plot is an inline SVG (``retrain.monitor.svg``).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from retrain.monitor import svg
from retrain.monitor.report import MonitorReport


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def summary_lines(report: MonitorReport) -> list[str]:
    """The report's sections as plain lines (shared by the text and HTML forms)."""
    lines = [
        f"Monitor report {report.created_at}",
        f"Champion: {report.champion_version} ({report.champion_kind})"
        + (f", previous: {report.previous_version}" if report.previous_version else ""),
    ]
    if report.headline:
        lines.append(report.headline)
    return lines


def render_text(report: MonitorReport) -> str:
    out = summary_lines(report)
    out.append("")
    out.append("Attention:" if report.flags else "Attention: nothing flagged")
    out += [f"  ! {flag}" for flag in report.flags]
    if report.events:
        out.append("Events:")
        out += [f"  {e.at} {e.kind}: {e.message}" for e in report.events]
    out.append("")
    out.append("Field edit rate per model version (reviewed segments):")
    if not report.version_rates:
        out.append("  no reviewed segments yet")
    for v in report.version_rates:
        out.append(
            f"  {v.version:<28} {_pct(v.rate):>7}  {v.errors} edits / {v.words} words, "
            f"{v.segments} segments"
        )
    if report.edit_rates:
        out.append("Per week:")
        for p in report.edit_rates:
            out.append(f"  {p.week}  {p.version:<28} {_pct(p.rate):>7}  ({p.words} words)")
    out.append("Confidence calibration (edit rate per word-probability bucket):")
    for b in report.calibration:
        if b.words:
            per_version = ", ".join(
                f"{version} {_pct(buckets[i].rate)}"
                for version, buckets in report.calibration_by_version.items()
                for i in [report.calibration.index(b)]
                if i < len(buckets) and buckets[i].words
            )
            out.append(
                f"  [{b.low:.2f}, {b.high:.2f})  {_pct(b.rate):>7}  of {b.words} words"
                + (f"  ({per_version})" if len(report.calibration_by_version) > 1 else "")
            )
    out.append("Input drift (against the champion's training/evaluation data):")
    for d in report.drift:
        verdict = "DRIFT" if d.drifted else "ok"
        stat = "" if d.p_value is None else f"D={d.statistic} p={d.p_value:.3g} "
        out.append(
            f"  {d.feature:<15} {verdict:<5} {stat}n={d.reference_n}/{d.current_n} "
            f"{d.note}".rstrip()
        )
    h = report.health
    out.append(
        f"Output health ({h.segments} recent segments): "
        f"non-finite log-prob {h.non_finite_logprob}, "
        f"empty {h.empty_output}, compression>2.4 {h.high_compression}, repeated n-grams "
        f"{h.repeated_ngrams}, text over silence {h.text_over_silence}"
    )
    p = report.performance
    out.append(
        f"Performance ({p.runs} transcriptions): RTF {_num(p.recent_rtf, 3)} recent vs "
        f"{_num(p.baseline_rtf, 3)} baseline; peak memory {_num(p.recent_peak_mb, 0)} MB vs "
        f"{_num(p.baseline_peak_mb, 0)} MB"
    )
    t = report.training_performance
    if t.runs:
        last = t.runs[-1]
        out.append(
            f"Training cost ({len(t.runs)} runs): last {_num(last.seconds_per_example, 2)} s per "
            f"example vs {_num(t.baseline_seconds_per_example, 2)} baseline; peak memory "
            f"{_num(last.peak_rss_mb, 0)} MB vs {_num(t.baseline_peak_rss_mb, 0)} MB"
        )
    q = report.data_quality
    rejections = ", ".join(f"{k} {v}" for k, v in sorted(q.rejections.items())) or "none"
    out.append(
        f"Data quality: {q.examples} examples ({q.corrections} corrections) from "
        f"{q.candidates} segments; learning {'on' if q.consent_enabled else 'off'}; "
        f"rejections: {rejections}"
    )
    s = report.staleness
    out.append(
        f"Staleness: champion since {s.champion_since or 'n/a'} "
        f"({_num(s.champion_age_days, 1)} days); {s.new_examples_since_training} new validated "
        f"examples and {s.new_vocabulary_since_training} new words since training"
        + (f" ({', '.join(s.new_vocabulary_sample)})" if s.new_vocabulary_sample else "")
    )
    t = report.last_training
    if t is None:
        out.append("Last training: none yet")
    else:
        out.append(
            f"Last training: run {t.run_id} {t.status} ({t.finished_at or 'unfinished'}); "
            f"held-out WER {_pct(t.heldout_before_wer)} -> {_pct(t.heldout_after_wer)} "
            f"(factory {_pct(t.heldout_factory_wer)}, {t.heldout_words or 0} words)"
        )
        out += [f"  gate: {r}" for r in t.reasons]
    c = report.canary
    if c is not None:
        out.append(f"Canary of {c.version}: {c.state} — {c.reason}")
    o = report.offline_online
    out.append(
        f"Offline vs online (per promotion): {len(o.pairs)} pairs, correlation "
        f"{_num(o.correlation)} (needs {o.min_pairs} measured pairs)"
    )
    for pair in o.pairs:
        out.append(
            f"  {pair.version}: predicted held-out gain {_pct(pair.predicted_gain)}, measured "
            f"field gain {_pct(pair.measured_gain)}"
        )
    d = report.dependencies
    out.append(
        f"Dependencies: {d.action}"
        + (f" — {'; '.join(d.changed)}" if d.changed else "")
        + (f" — {d.detail}" if d.detail and d.action not in ("none",) else "")
    )
    return "\n".join(out) + "\n"


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:24px;max-width:1200px;color:#222}"
    "h1{font-size:22px}h2{font-size:17px;margin-top:28px}"
    "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px;"
    "text-align:left}.flag{color:#a40000}.ok{color:#216e21}.grid{display:flex;flex-wrap:wrap;"
    "gap:16px}"
)


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    if not rows:
        return "<p>none yet</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def edit_rate_chart(report: MonitorReport) -> str:
    weeks = sorted({p.week for p in report.edit_rates})
    series: dict[str, list[float | None]] = {}
    for p in report.edit_rates:
        series.setdefault(p.version, [None] * len(weeks))[weeks.index(p.week)] = p.rate
    return svg.line_chart("Field edit rate per model version", weeks, series, "edit rate")


def render_html(report: MonitorReport, history: Sequence[MonitorReport] = ()) -> str:
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Tiro model health {escape(report.created_at)}</title>",
        f"<style>{_style()}</style></head><body>",
        f"<h1>Tiro model health — {escape(report.created_at)}</h1>",
        f"<p>Champion <b>{escape(report.champion_version)}</b> ({escape(report.champion_kind)})"
        + (f", previous {escape(report.previous_version)}" if report.previous_version else "")
        + "</p>",
        f"<p><b>{escape(report.headline)}</b></p>" if report.headline else "",
    ]
    if report.flags:
        parts.append("<h2>Needs attention</h2><ul>")
        parts += [f"<li class='flag'>{escape(f)}</li>" for f in report.flags]
        parts.append("</ul>")
    else:
        parts.append("<p class='ok'>Nothing flagged.</p>")
    if report.events:
        parts.append("<h2>What the monitor did</h2>")
        parts.append(
            _table(["at", "kind", "message"], [(e.at, e.kind, e.message) for e in report.events])
        )
    parts.append("<h2>Field edit rate</h2><div class='grid'>")
    parts.append(edit_rate_chart(report))
    cal = list(report.calibration)
    parts.append(
        svg.bar_chart(
            "Edit rate per word-probability bucket",
            [f"{b.low:.2f}" for b in cal],
            [b.rate for b in cal],
            "edit rate",
        )
    )
    parts.append("</div>")
    parts.append(
        _table(
            ["version", "segments", "words", "edits", "edit rate", "first review", "last review"],
            [
                (
                    v.version,
                    v.segments,
                    v.words,
                    v.errors,
                    _pct(v.rate),
                    v.first_reviewed,
                    v.last_reviewed,
                )
                for v in report.version_rates
            ],
        )
    )
    parts.append("<h2>Staleness (edit rate against champion age and new vocabulary)</h2>")
    s = report.staleness
    parts.append(
        f"<p>Champion since {escape(str(s.champion_since))} ({_num(s.champion_age_days, 1)} days); "
        f"{s.new_examples_since_training} new validated examples, "
        f"{s.new_vocabulary_since_training} new words since training.</p><div class='grid'>"
    )
    by_version: dict[str, list[tuple[float, float]]] = {}
    by_vocab: dict[str, list[tuple[float, float]]] = {}
    for p in report.staleness_series:
        if p.rate is None:
            continue
        by_version.setdefault(p.version, []).append((p.age_days, p.rate))
        by_vocab.setdefault(p.version, []).append((float(p.new_vocabulary), p.rate))
    parts.append(
        svg.scatter_chart(
            "Edit rate against champion age", "champion age (days)", "edit rate", by_version
        )
    )
    parts.append(
        svg.scatter_chart(
            "Edit rate against new vocabulary", "new words since training", "edit rate", by_vocab
        )
    )
    parts.append("</div>")
    t = report.last_training
    parts.append("<h2>Last training</h2>")
    if t is None:
        parts.append("<p>No training run yet.</p>")
    else:
        parts.append(
            f"<p>Run {t.run_id}: <b>{escape(t.decision)}</b> ({escape(t.status)}), "
            f"held-out WER {_pct(t.heldout_before_wer)} before → {_pct(t.heldout_after_wer)} after "
            f"(factory {_pct(t.heldout_factory_wer)}, {t.heldout_words or 0} words).</p><ul>"
        )
        parts += [f"<li>{escape(r)}</li>" for r in t.reasons]
        parts.append("</ul>")
    parts.append("<h2>Canary</h2>")
    c = report.canary
    parts.append(
        "<p>The factory model serves: no canary.</p>"
        if c is None
        else f"<p>{escape(c.version)}: <b>{escape(c.state)}</b> — {escape(c.reason)}</p>"
    )
    o = report.offline_online
    parts.append("<h2>Offline gain against field gain (per promotion)</h2>")
    parts.append(
        svg.scatter_chart(
            "Predicted held-out WER gain against measured field edit-rate gain",
            "predicted gain",
            "measured gain",
            {
                "promotions": [
                    (p.predicted_gain, p.measured_gain)
                    for p in o.pairs
                    if p.predicted_gain is not None and p.measured_gain is not None
                ]
            },
            x_percent=True,
        )
    )
    parts.append(
        f"<p>Correlation (Pearson): {_num(o.correlation)} over "
        f"{sum(1 for p in o.pairs if p.measured_gain is not None)} measured pairs "
        f"(shown from {o.min_pairs}).</p>"
    )
    parts.append(
        _table(
            ["run", "version", "predecessor", "predicted", "measured"],
            [
                (p.run_id, p.version, p.predecessor, _pct(p.predicted_gain), _pct(p.measured_gain))
                for p in o.pairs
            ],
        )
    )
    parts.append("<h2>Input drift</h2>")
    parts.append(
        _table(
            ["feature", "test", "D", "p", "reference n", "recent n", "drift", "note"],
            [
                (
                    d.feature,
                    d.test,
                    _num(d.statistic, 3),
                    "n/a" if d.p_value is None else f"{d.p_value:.3g}",
                    d.reference_n,
                    d.current_n,
                    "yes" if d.drifted else "no",
                    d.note,
                )
                for d in report.drift
            ],
        )
    )
    h, p = report.health, report.performance
    parts.append("<h2>Output health and performance</h2>")
    parts.append(
        _table(
            ["check", "value"],
            [
                ("recent segments", h.segments),
                ("NaN/inf log-probabilities", h.non_finite_logprob),
                ("empty outputs", h.empty_output),
                ("compression ratio > 2.4", h.high_compression),
                ("repeated n-grams", h.repeated_ngrams),
                ("text over silence", h.text_over_silence),
                ("transcriptions", p.runs),
                ("RTF recent / baseline", f"{_num(p.recent_rtf, 3)} / {_num(p.baseline_rtf, 3)}"),
                (
                    "peak MB recent / baseline",
                    f"{_num(p.recent_peak_mb, 0)} / {_num(p.baseline_peak_mb, 0)}",
                ),
                ("training runs", len(report.training_performance.runs)),
                (
                    "training s per example last / baseline",
                    f"{_num(_last_cost(report, 'seconds_per_example'), 2)} / "
                    f"{_num(report.training_performance.baseline_seconds_per_example, 2)}",
                ),
            ],
        )
    )
    q = report.data_quality
    parts.append("<h2>Data quality</h2>")
    parts.append(
        f"<p>{q.examples} examples ({q.corrections} corrections) from {q.candidates} segments; "
        f"learning {'on' if q.consent_enabled else 'off'}.</p>"
    )
    parts.append(_table(["rejection", "segments"], sorted(q.rejections.items())))
    d = report.dependencies
    parts.append("<h2>Dependencies</h2>")
    parts.append(f"<p>{escape(d.action)}{(' — ' + escape(d.detail)) if d.detail else ''}</p>")
    parts.append(
        _table(
            ["component", "now", "at training"],
            [(k, v, d.recorded.get(k, "")) for k, v in sorted(d.current.items())],
        )
    )
    if history:
        parts.append("<h2>Earlier reports</h2>")
        parts.append(
            _table(
                ["report", "at", "champion", "flags"],
                [(r.report_id, r.created_at, r.champion_version, len(r.flags)) for r in history],
            )
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def _style() -> str:
    return _STYLE


def _last_cost(report: MonitorReport, attr: str) -> float | None:
    runs = report.training_performance.runs
    return getattr(runs[-1], attr) if runs else None
