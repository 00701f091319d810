"""The busy signal across processes: a transcription in another Tiro process (a child
holding the signal, ``tiro import``, ``tiro transcribe``) holds the learning run back.

Real processes and real OS file locks; nothing is mocked.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from retrain.monitor import TriggerDecision
from retrain.scheduler import BusySignal, Scheduler, SchedulerConfig, pipeline_gate
from retrain.scheduler.busy import lock_file_name
from retrain.store import Store

DUE = TriggerDecision(True, ("60 new reviewed examples since the last training",), 60)
CONFIG = SchedulerConfig(pipeline_interval_hours=0)
TIRO = Path(sys.executable).parent / "tiro"

HOLDER = textwrap.dedent(
    """
    import sys
    from contextlib import ExitStack
    from retrain.scheduler.busy import BusySignal

    with ExitStack() as stack:
        for reason in sys.argv[1:]:
            stack.enter_context(BusySignal().hold(reason))
        print("held", flush=True)
        sys.stdin.readline()  # hold until the test closes our stdin (or kills us)
    print("released", flush=True)
    """
)


def start_holder(*reasons: str) -> subprocess.Popen:
    """A child process (same TIRO_HOME) that holds the signal until its stdin closes."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, *reasons],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def gate_reason(store: Store) -> tuple[bool, bool, str]:
    gate = pipeline_gate(store, DUE, CONFIG, force=True)  # no busy given: the gate's own
    return gate.run, gate.busy, gate.reasons[0]


def test_a_hold_in_another_process_holds_back_the_gate_until_it_ends(opted_in: Store) -> None:
    assert not BusySignal().busy
    assert gate_reason(opted_in) == (True, False, "requested now by the user")
    child = start_holder("transcription")
    try:
        signal = BusySignal()
        assert signal.busy and signal.reasons == ("transcription",)
        run, busy, reason = gate_reason(opted_in)
        assert not run and busy and "busy (transcription)" in reason
        # the app's scheduler consults the same signal (its default, or the app's own)
        assert Scheduler(opted_in, CONFIG).busy.busy
        assert not BusySignal(cross_process=False).busy  # in-process only: blind to it
    finally:
        assert child.stdin is not None
        child.stdin.close()  # the child leaves its hold and ends
        assert child.stdout is not None and child.stdout.readline().strip() == "released"
        assert child.wait(timeout=30) == 0
    assert not BusySignal().busy and BusySignal().reasons == ()
    assert gate_reason(opted_in) == (True, False, "requested now by the user")


def test_a_killed_holder_leaves_nothing_busy(opted_in: Store, tiro_home: Path) -> None:
    child = start_holder("transcription", "recording")
    assert BusySignal().reasons == ("recording", "transcription")
    child.kill()  # SIGKILL: no cleanup runs in the child; the OS drops its locks
    child.wait(timeout=30)
    assert not BusySignal().busy
    assert gate_reason(opted_in)[0]
    assert (tiro_home / "locks" / lock_file_name("transcription")).is_file()


def test_holds_in_this_process_are_seen_through_the_lock_file(tiro_home: Path) -> None:
    first, other = BusySignal(), BusySignal()
    with first.hold("transcription"):
        assert other.busy and other.reasons == ("transcription",)  # another instance
        with first.hold("transcription"):
            pass
        assert other.busy  # the outer hold still stands after the inner one ends
    assert not first.busy and not other.busy


def test_an_unusable_lock_folder_never_fails_a_hold(tmp_path: Path, caplog) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the lock folder should be")
    signal = BusySignal(lock_dir=blocker / "locks")
    with caplog.at_level(logging.WARNING, logger="tiro.scheduler"), signal.hold("transcription"):
        assert signal.busy and signal.reasons == ("transcription",)  # in-process still
    assert "visible in this process only" in caplog.text
    assert not signal.busy


@pytest.mark.parametrize("command", ["import", "transcribe"])
def test_the_cli_holds_the_signal_while_it_transcribes(
    command: str, general_corpus: Path, tiro_home: Path
) -> None:
    clip = general_corpus / "jfk_inaugural_44k_stereo.flac"
    proc = subprocess.Popen(
        [str(TIRO), command, str(clip)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    signal, seen = BusySignal(), set()
    while proc.poll() is None:
        seen.update(signal.reasons)
        time.sleep(0.02)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr.decode()
    assert seen == {"transcription"}
    assert not signal.busy
