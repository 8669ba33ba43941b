import subprocess
import sys


def test_demo_runs_end_to_end(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "tsdiff.cli", "demo", "--steps", "150", "--samples", "300", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in ("ddpm", "ddim", "dpmpp_2m", "euler_maruyama", "heun", "pc"):
        assert f"| {name} |" in proc.stdout
    assert (tmp_path / "demo_mixture.png").stat().st_size > 10_000


def test_unknown_command_fails_cleanly():
    proc = subprocess.run([sys.executable, "-m", "tsdiff.cli", "nope"], capture_output=True, text=True)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
