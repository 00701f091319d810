"""The monitor: watches the model in use, decides retraining, rolls back what hurts.

Public interface (the scheduler and the app use only these):

- ``run_monitor(store, *, now=None) -> MonitorReport``: compute one report from the
  telemetry, act on the canary and on dependency changes, persist it
  (``monitor_reports``) and return it.
- ``decide_retraining(store, report, config=None) -> TriggerDecision``.
- ``check_canary(store, *, now=None) -> CanaryOutcome | None``.
- ``latest_report(store)``, ``report_history(store, limit)``.
- ``render_text(report)``, ``render_html(report, history)`` for ``tiro monitor``.
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
