"""The pipeline process: ``python -m retrain.scheduler.pipeline_worker RESULT [TARGET]``.

Opens the store (same TIRO_HOME as the app), runs ``TARGET`` (default: the learning
pipeline, ``retrain.pipeline.run:run_pipeline``, what ``tiro retrain`` runs) with
``cancel=`` an event that SIGTERM sets, and writes its report as JSON to ``RESULT``
(atomically). Exit codes: 0 done, ``EXIT_CANCELLED`` cancelled (the champion is
unchanged), ``EXIT_FAILED`` a failure with its one-sentence reason in ``RESULT``.
The supervisor (``retrain.scheduler.pipeline_job``) lowers its priority before it starts.
"""

from __future__ import annotations

import importlib
import json
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from retrain.scheduler.config import PIPELINE_TARGET

EXIT_CANCELLED = 3
EXIT_FAILED = 4


def load_target(spec: str) -> Callable[..., Any]:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def write_result(path: Path, data: dict[str, Any]) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, default=str), encoding="utf-8")
    partial.replace(path)


def main(argv: list[str]) -> int:
    result_path = Path(argv[0])
    target = load_target(argv[1] if len(argv) > 1 else PIPELINE_TARGET)
    cancel = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: cancel.set())

    from retrain.pipeline.run import PipelineCancelled
    from retrain.store import Store

    try:
        with Store.open(auto_snippets=False) as store:
            report = target(store, cancel=cancel)
    except PipelineCancelled:
        return EXIT_CANCELLED
    except Exception as exc:  # reported to the parent as one sentence
        message = str(exc) or type(exc).__name__
        write_result(result_path, {"error": message, "type": type(exc).__name__})
        return EXIT_FAILED
    body = report.to_json() if hasattr(report, "to_json") else dict(report or {})
    write_result(result_path, {"report": body})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
