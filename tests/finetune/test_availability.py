"""Without the optional extra (PyTorch, transformers) Tiro keeps working and says why
fine-tuning is off.

The missing libraries are simulated in a fresh interpreter by blocking their import
(``sys.modules[name] = None``, which is what Python reports for a module that is not
there): a system boundary, since the test environment has them installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import json, sys
for name in ("torch", "transformers"):
    sys.modules[name] = None
from retrain.finetune.availability import availability
from retrain.finetune.errors import FinetuneUnavailable
from retrain.finetune.job import TrainingJob, run_training_job  # the parent side imports fine
out = {"available": availability().available, "reason": availability().reason}
try:
    import retrain.finetune.trainer
except ImportError as exc:
    out["trainer"] = [type(exc).__name__, str(exc)]
try:
    run_training_job(None)
except FinetuneUnavailable as exc:
    out["job"] = str(exc)
import engine.weights, retrain.finetune.features, retrain.finetune.export  # numpy-only parts
out["torch_loaded"] = "torch" in sys.modules and sys.modules["torch"] is not None
print(json.dumps(out))
"""


def _probe(env_extra: dict[str, str] | None = None) -> dict:
    import os

    env = {**os.environ, **(env_extra or {})}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=REPO_ROOT, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_without_torch_fine_tuning_is_unavailable_with_one_clear_sentence() -> None:
    out = _probe()
    assert out["available"] is False
    assert out["reason"].startswith("fine-tuning is not available in this installation")
    assert "vocabulary and correction rules" in out["reason"]
    assert out["trainer"] == ["FinetuneUnavailable", out["reason"]]
    assert out["job"] == out["reason"]
    assert out["torch_loaded"] is False


def test_checking_availability_does_not_import_torch() -> None:
    code = (
        "import sys; from retrain.finetune.availability import availability; "
        "a = availability(); print(a.available, 'torch' in sys.modules, a.versions)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT
    )
    assert done.returncode == 0, done.stderr
    available, torch_loaded, _ = done.stdout.split(" ", 2)
    assert torch_loaded == "False"
    assert available in ("True", "False")
