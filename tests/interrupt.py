"""A command interrupted as a person interrupts it: started with SIGINT at its default (a run
started in the background by a non-interactive shell inherits SIGINT ignored), held at its pause
before commit (``LIFECYCLE_PAUSE_BEFORE_COMMIT``), then sent SIGINT."""

from __future__ import annotations

import os
import select
import signal
import subprocess


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_paused(argv: list[str], pause: int = 60, **env: str) -> subprocess.Popen:
    """``argv`` started, to pause ``pause`` seconds before it commits."""
    return subprocess.Popen(
        argv,
        env={**os.environ, "LIFECYCLE_PAUSE_BEFORE_COMMIT": str(pause), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )


def wait_for_pause(proc: subprocess.Popen, timeout: float = 120) -> None:
    ready, _, _ = select.select([proc.stderr], [], [], timeout)
    assert ready, "the run never reached its pause"
    assert proc.stderr.readline() == "lifecycle: paused before commit\n"


def interrupt_at_pause(argv: list[str], pause: int = 60, **env: str) -> tuple[int, str, str]:
    """``argv`` run to its pause before commit and sent SIGINT there: (exit code, stdout,
    what stderr said after the pause line)."""
    proc = start_paused(argv, pause, **env)
    try:
        wait_for_pause(proc)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # pragma: no cover
            proc.kill()
    return proc.returncode, out, err
