"""`gateway serve --loop auto|uvloop|asyncio`: the process really runs on the loop asked for
(its startup log line names it) and serves a teen there; a loop it does not know is refused
before anything starts. The speed difference is measured in bench/README.md, not here."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from tests.clients import Widget
from tests.process_output import OutputWatch
from tests.processes import ROOT, free_port, gateway_env, write_config


def _serve(config, log_path, *loop_args: str) -> tuple[subprocess.Popen[bytes], OutputWatch, int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--config", str(config), "--port", str(port), *loop_args],
        cwd=ROOT, env=gateway_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    return process, OutputWatch(process, log_path), port


def _stop(process: subprocess.Popen[bytes], output: OutputWatch) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
    output.join()


@pytest.mark.parametrize("loop_args, expected", [(["--loop", "uvloop"], "uvloop"),
                                                 (["--loop", "asyncio"], "asyncio"),
                                                 (["--loop", "auto"], "uvloop"),
                                                 ([], "asyncio")], ids=["uvloop", "asyncio", "auto", "default"])
async def test_serve_runs_on_the_loop_asked_for_and_stores_a_teens_line(redis_url, tmp_path, loop_args, expected):
    config = write_config(tmp_path / "config.yaml", redis_url, f"l{uuid.uuid4().hex[:10]}")
    process, output, port = _serve(config, tmp_path / "gateway.log", *loop_args)
    try:
        match = output.wait_for(r"gateway listening on \S+ \(store (\w+), loop (\w+)\)", 20)
        assert match.groups() == ("redis", expected)
        output.wait_for(r"Widget demo: ", 10)
        teen = await Widget.connect(f"ws://127.0.0.1:{port}")
        ack = await teen.say("bonjour, je voudrais parler")
        assert ack["message"]["seq"] >= 1
        await teen.close()
    finally:
        _stop(process, output)
    assert process.returncode == 0


def test_an_unknown_loop_is_refused_with_the_choices(tmp_path):
    done = subprocess.run([sys.executable, "-m", "gateway", "serve", "--loop", "nonsense"],
                          cwd=ROOT, env=gateway_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--loop: invalid choice: 'nonsense'" in done.stderr
    assert "'auto', 'uvloop', 'asyncio'" in done.stderr
    assert "gateway listening" not in done.stdout + done.stderr
