"""issue 14: default threads follow the load; the wait policy is set before torch starts, unless the user set one."""

from __future__ import annotations

import os
import subprocess
import sys

from echoseg.inference.threads import default_threads


def test_default_threads_leave_busy_cores_alone():
    assert default_threads(cores=2, load=0.1) == 2  # quiet 2-core machine: both
    assert default_threads(cores=2, load=1.2) == 1  # another job on one core
    assert default_threads(cores=2, load=9.5) == 1  # busy: never fewer than one
    assert default_threads(cores=16, load=4.0) == 12
    assert 1 <= default_threads() <= os.cpu_count()


def _policy_seen_by_a_command(env_policy: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if env_policy is not None:
        env["OMP_WAIT_POLICY"] = env_policy
    code = ("import os, sys, echoseg.cli as cli, echoseg.commands.version\n"
            "sys.modules['echoseg.commands.version'].run = lambda a: print(os.environ.get('OMP_WAIT_POLICY'), "
            "'torch' in sys.modules) or 0\n"
            "cli.main(['version'])")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False).stdout


def test_the_cli_sets_passive_waiting_before_torch_unless_told_otherwise():
    assert _policy_seen_by_a_command(None).split() == ["PASSIVE", "False"]
    assert _policy_seen_by_a_command("ACTIVE").split()[0] == "ACTIVE"
