"""Live views of the job commands in a real pseudo-terminal, read back through a terminal emulator (pyte):
the fine-tuning loss chart and the batch progress bar; none of it when stderr is not a terminal."""

from __future__ import annotations

import json
import sys

from test_pty_render import COLS, ROWS, PtyRun, pty_env, text_rows
from test_render import emulate


def _job(server, steps=6) -> str:
    server.jobs.ft_steps = steps
    f = server.jobs.add_file(b"{}\n", purpose="fine-tune")
    jid = None
    from refserver_jobs import JobsApi  # noqa: F401  (the same server object the CLI talks to)

    body = {"model": "ref-model", "training_file": f["id"], "suffix": "chart"}
    import urllib.request

    req = urllib.request.Request(
        f"{server.base_url}/fine_tuning/jobs",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(req) as resp:
        jid = json.loads(resp.read())["id"]
    return jid


def follow_in_pty(home, server, jid, *, stderr_tty=True) -> PtyRun:
    argv = [
        sys.executable,
        "-m",
        "llmcli",
        "finetune",
        "follow",
        jid,
        "--base-url",
        server.base_url,
        "--interval",
        "0.05",
    ]
    return PtyRun(argv, pty_env(home), stderr_tty=stderr_tty)


def test_follow_draws_a_loss_chart_in_a_terminal(home, server):
    jid = _job(server)
    run = follow_in_pty(home, server, jid)
    assert run.wait(60) == 0
    out = bytes(run.output)
    screen = "\n".join(text_rows(emulate(out, COLS, ROWS)))
    assert "train loss" in screen and "valid loss" in screen  # the legend
    assert "step" in screen and "┌" in screen and "└" in screen  # axes and the frame
    assert any(ch in screen for ch in "▀▄▖▗▘▙▚▛▜▝▞▟")  # plotted points
    assert "2.00" in screen  # the y axis reaches the first step's loss
    assert "succeeded" in screen
    model = server.jobs.jobs[jid]["fine_tuned_model"]
    assert f"fine-tuned model: {model}" in screen and f"-m {model}" in screen
    assert "Step 6/6: training loss=0.3333" in screen  # the events, printed above the live view


def test_no_chart_when_stderr_is_not_a_terminal(home, server):
    jid = _job(server, steps=3)
    run = follow_in_pty(home, server, jid, stderr_tty=False)
    _, err = run.proc.communicate(timeout=60)
    assert run.wait() == 0
    assert err == b""  # no live view, no colours, nothing
    out = bytes(run.output)
    assert b"train loss" not in out and b"\x1b[" not in out  # stdout (the terminal) got the events only
    assert b"Step 3/3" in out


def test_batch_wait_shows_a_progress_bar_in_a_terminal(home, server, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "custom_id": f"r{i}",
                    "method": "POST",
                    "url": "/v1/chat/completions",
                    "body": {"model": "ref-model", "messages": [{"role": "user", "content": "q"}]},
                }
            )
            + "\n"
            for i in range(5)
        )
    )
    server.jobs.fail_custom_ids = {"r3"}
    argv = [
        sys.executable,
        "-m",
        "llmcli",
        "batch",
        "submit",
        str(path),
        "--wait",
        "--interval",
        "0.05",
        "--base-url",
        server.base_url,
    ]
    run = PtyRun(argv, pty_env(home))
    assert run.wait(60) == 7
    out = bytes(run.output)
    screen = "\n".join(text_rows(emulate(out, COLS, ROWS)))
    assert "completed" in screen and "5/5" in screen and "1 failed" in screen
    assert "━" in screen  # the bar
    assert "1 of 5 requests failed" in screen
