"""Shared fixtures: the repository's demo city and the command line built from this tree."""

import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
DEMO = ROOT / "data" / "demo"
TINY = ROOT / "tests" / "fixtures" / "tiny"


def _cli_binary() -> pathlib.Path:
    explicit = os.environ.get("XUEQU_BIN")
    if explicit:
        return pathlib.Path(explicit)
    for profile in ("debug", "release"):
        candidate = ROOT / "target" / profile / "xuequ"
        if candidate.exists():
            return candidate
    raise RuntimeError("build the command line first (cargo build -p xuequ-cli) or set XUEQU_BIN")


@pytest.fixture(scope="session")
def cli():
    """Runs `xuequ ARGS...` quietly and returns the completed process (checked)."""
    binary = _cli_binary()

    def run(*args, check=True):
        done = subprocess.run([str(binary), "-q", *map(str, args)], capture_output=True, text=True)
        if check and done.returncode != 0:
            raise AssertionError(f"xuequ {' '.join(map(str, args))} failed: {done.stderr}")
        return done

    return run


@pytest.fixture(scope="session")
def demo_run(cli, tmp_path_factory):
    """The command line's `run --lotteries 200` of the demo city."""
    out = tmp_path_factory.mktemp("cli") / "run"
    cli("run", DEMO / "scenario.toml", "--out", out, "--no-html", "--lotteries", 200)
    return out
