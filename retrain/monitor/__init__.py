"""The monitor: watches the model in use, decides retraining, rolls back what hurts.

Public interface (the scheduler and the app use only these):

- ``run_monitor(store, *, now=None) -> MonitorReport``: compute one report from the
  telemetry, act on the canary and on dependency changes, persist it
  (``monitor_reports``) and return it.
- ``decide_retraining(store, report, config=None) -> TriggerDecision``.
- ``check_canary(store, *, now=None) -> CanaryOutcome | None``.
- ``latest_report(store)``, ``report_history(store, limit)``.
- ``render_text(report)``, ``render_html(report, history)`` (``retrain.monitor.render``)
  for ``tiro monitor``.

What the app's Model health panel finds in a ``MonitorReport``:

- at a glance: ``headline`` (one sentence), ``flags`` (what needs attention), ``events``
  (what the monitor did, e.g. ``kind == "rollback"`` with the reason: tell the user);
- edit rate over time per model version: ``edit_rates`` (version, ISO week, words,
  errors, rate) and ``version_rates``; calibration: ``calibration`` and
  ``calibration_by_version``;
- what the last training changed: ``last_training`` (held-out WER before/after, factory,
  the gate's reasons, per-candidate decisions);
- drift and health: ``drift`` (per feature: test, statistic, p, n, drifted),
  ``health``, ``performance``, ``data_quality``;
- staleness: ``staleness`` and ``staleness_series`` (Model 4), ``offline_online``
  (Model 2), ``dependencies`` (Monitoring 1), ``canary`` (pending / passed / failed).

Rollbacks are also recorded as finished ``job_runs`` rows (job ``canary`` or ``monitor``,
outcome ``rolled_back``, the reason as ``message``) and in the demoted version's
``status_reason``.
"""

from retrain.monitor.canary import CanaryConfig, check_canary
from retrain.monitor.history import latest_report, report_history
from retrain.monitor.report import CanaryOutcome, MonitorEvent, MonitorReport
from retrain.monitor.run import MonitorConfig, run_monitor
from retrain.monitor.triggers import TriggerConfig, TriggerDecision, decide_retraining

__all__ = [
    "CanaryConfig",
    "CanaryOutcome",
    "MonitorConfig",
    "MonitorEvent",
    "MonitorReport",
    "TriggerConfig",
    "TriggerDecision",
    "check_canary",
    "decide_retraining",
    "latest_report",
    "report_history",
    "run_monitor",
]
