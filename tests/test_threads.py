"""issue 14: the wait policy is set before torch starts (unless the user set one); threads = usable cores."""

from __future__ import annotations

import os
import subprocess
import sys

from echoseg.threads import default_threads


def test_default_threads_are_the_cores_this_process_may_use():
    assert default_threads() == len(os.sched_getaffinity(0))


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
