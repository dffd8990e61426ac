"""Linux, macOS and Windows: each fallback of `state.platform` forced here on Linux by taking
the facility away in a real `jogg-flow` process (as macOS lacks `os.fdatasync`, and Windows
`fcntl`, `os.pread`, `os.pwrite` and `os.O_NOFOLLOW`)."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

from tests.conftest import ROOT

# Runs the console entry point after removing what the platform would not have.
PROBE = """
import os, sys
for name in sys.argv[1].split(","):
    if name == "fcntl":
        sys.modules["fcntl"] = None  # import fcntl -> ImportError, as on Windows
    elif name:
        delattr(os, name)
from jogg_flow.cli import main
main(sys.argv[2:])
"""


def _jf(missing: str, *args: str, cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("JOGG_API_KEY", None)
    return subprocess.run([sys.executable, "-c", PROBE, missing, *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


def _example(tmp_path: pathlib.Path) -> str:
    shutil.copy(ROOT / "manifests" / "spring-launch.yaml", tmp_path / "spring-launch.yaml")
    return str(tmp_path / "spring-launch.yaml")


def test_without_fcntl_validate_and_plan_work_and_apply_says_why_it_cannot_lock(tmp_path):
    manifest = _example(tmp_path)
    for command in (("validate", manifest), ("plan", manifest, "--sandbox")):
        result = _jf("fcntl", *command, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    applied = _jf("fcntl", "apply", manifest, "--sandbox", "--yes", cwd=tmp_path)
    assert applied.returncode == 4, applied.stderr
    assert "neither fcntl nor msvcrt file locks" in applied.stderr and "Traceback" not in applied.stderr


def test_without_fdatasync_pread_pwrite_and_nofollow_apply_sandbox_succeeds_and_resumes(tmp_path):
    manifest = _example(tmp_path)
    missing = "fdatasync,pread,pwrite,O_NOFOLLOW"
    first = _jf(missing, "apply", manifest, "--sandbox", "--yes", "-q", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    again = _jf(missing, "plan", manifest, "--sandbox", "--output", "json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert '"create"' not in again.stdout and '"up-to-date"' in again.stdout


def test_the_lock_names_its_holder_without_pread(tmp_path):
    """Windows has no os.pread/os.pwrite: the holder is written and read back by seeking."""
    state = tmp_path / "s.json"
    (tmp_path / "m.yaml").write_text("version: 1\nproducts:\n  - key: a\n    url: https://shop.example/a\n")
    code = ("import os, sys\ndel os.pread, os.pwrite\n"
            "from jogg_flow.state import Lock\n"
            f"l = Lock({str(state)!r}); l.acquire(); print('locked', flush=True); sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        result = _jf("pread,pwrite", "unlock", str(tmp_path / "m.yaml"), "--state", str(state), cwd=tmp_path)
        assert result.returncode == 4
        assert f"pid {holder.pid} on " in result.stderr
    finally:
        holder.kill()
        holder.communicate(timeout=30)
