"""Every command the README shows runs as shown (at small sizes), so the README cannot rot.

Commands are read from the README's ``bash`` blocks (and the clustersim parts of the
quickstart line), shrunk (fewer firms, months and replications; a local Dask cluster
instead of a remote scheduler) and run in a fresh folder one after another, so a report
finds the store a sweep before it wrote. Python blocks run with smaller sizes too.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
CLI = [sys.executable, "-m", "clustersim.cli"]
SMALL = ["--set", "firms.count=30"]


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def readme_commands() -> list[list[str]]:
    """The clustersim commands of the README, in order, as argument lists."""
    commands = []
    for block in blocks("bash"):
        for line in block.splitlines():
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                if words and words[0].endswith("clustersim"):
                    commands.append(words[1:])
    return commands


def _without(words: list[str], option: str, takes_value: bool = True) -> list[str]:
    out, skip = [], False
    for word in words:
        if skip:
            skip = False
            continue
        if word == option:
            skip = takes_value
            continue
        out.append(word)
    return out


def shrink(words: list[str]) -> list[str]:
    """The same command at a size a test can afford; never a remote address."""
    command = words[0]
    if command == "sweep":
        words = _without(_without(_without(words, "--scheduler"), "--replications"), "--steps")
        name = Path(words[1]).stem
        extra = [] if "--dry-run" in words else ["--store", f"results/{name}.duckdb"]
        return [*words, "--replications", "1", "--steps", "3", *SMALL, *extra]
    if command == "run":
        kept = []
        for word in words:
            if word.startswith("firms.count=") and kept and kept[-1] == "--set":
                kept.pop()
                continue
            kept.append(word)
        words = kept
        steps = [] if "--steps" in words else ["--steps", "3"]
        return [*words, *steps, *SMALL]
    return words


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve_dashboard(words: list[str], cwd: Path) -> None:
    port = _free_port()
    process = subprocess.Popen([*CLI, *words, "--port", str(port)], cwd=cwd,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
                    assert answer.status == 200
                    return
            except OSError:
                time.sleep(0.5)
        raise AssertionError("the dashboard did not answer within 60 s")
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_readme_shows_commands():
    commands = readme_commands()
    assert {c[0] for c in commands} >= {"sweep", "report", "export", "run", "dashboard"}


@pytest.mark.slow
def test_every_readme_command_runs(tmp_path):
    """From a folder laid out like the repository root, as the README assumes."""
    for folder in ("experiments", "scenarios"):
        (tmp_path / folder).symlink_to(README.parent / folder)
    env = {**os.environ, "PYTHONPATH": str(README.parent)}
    for words in readme_commands():
        if words[0] == "dashboard":
            _serve_dashboard(words, tmp_path)
            continue
        small = shrink(words)
        done = subprocess.run([*CLI, *small], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=600, check=False)
        assert done.returncode == 0, f"clustersim {' '.join(small)}\n{done.stderr[-2000:]}"


@pytest.mark.slow
def test_every_readme_python_block_runs(tmp_path):
    for block in blocks("python"):
        code = (block.replace("model.run(60)", "model.run(4)")
                .replace("max_steps=24", "max_steps=3").replace("iterations=2", "iterations=1")
                .replace("replications=2", "replications=1").replace("steps=24", "steps=3"))
        code = re.sub(r'ClusterModel\("baseline", seed=1,', 'ClusterModel("baseline", seed=1, n_firms=30,',
                      code)
        code = code.replace('parameters={"network_mode"', 'parameters={"n_firms": 30, "network_mode"')
        code = code.replace('run_experiment("static_vs_dynamic", ',
                            'run_experiment("static_vs_dynamic", overrides={"firms.count": 30}, ')
        done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                              text=True, timeout=600, check=False)
        assert done.returncode == 0, f"{code}\n{done.stderr[-2000:]}"
