"""The fault run at its small size (`scripts/faults --small`): real processes, real faults.

It runs as a subprocess (it kills and restarts processes of its own, and Redis), writes its
figures as JSON, and this test checks them. Two kinds of figures:
- ASSERTED: invariants that hold today; a regression fails the suite.
- REPORTED: figures printed (and counted as a warning), not asserted, while a fix is under way;
  once it holds, its name moves to ASSERTED. Since #10 landed every figure is asserted.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import warnings

from bench.faults_audit import MUST_BE_ZERO, Stored, not_zero, total, verdict
from bench.faults_clients import Counsellor, Record, Teen
from gateway.domain.model import Author, ConversationState, Message
from tests.processes import ROOT, gateway_env

# figure name -> the value it must have (a dict figure is summed over its sides)
ASSERTED = {
    "duplicated": 0,
    "double_assigned": 0,
    "restart_failures": 0,
    "lost": 0,
    "seen_only_after_reload": 0,
    "unannounced_assignments": 0,
    "http_500": 0,
    "set_offline_while_connected": 0,
}
REPORTED: dict[str, int] = {}  # all of issue #10's figures hold now: a new one starts here
SIGTERM_CLOSES_WITH_1012 = True  # every socket of the SIGTERMed process saw close code 1012
RUN_SECONDS = 300  # the small run takes ~35 s on an idle machine; this only bounds a hang


def run_small(tmp_path) -> tuple[dict, str]:
    out = tmp_path / "faults.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.faults", "--small", "--json", str(out), "--seed", "3018"],
        cwd=ROOT, env=gateway_env(), capture_output=True, text=True, timeout=RUN_SECONDS, check=False,
    )
    assert done.returncode == 0, f"the fault run failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return json.loads(out.read_text(encoding="utf-8")), done.stdout


def test_the_small_fault_run_keeps_its_invariants(tmp_path):
    result, printed = run_small(tmp_path)
    print(printed)

    # The run did what it says: every fault, traffic both ways, every client came back.
    assert [f.split()[0] for f in result["faults"] if not f.endswith("restarted")] == [
        "kill", "SIGTERM", "Redis", "Redis", "cut"]
    assert result["sent"]["teen"] == 6 * 5 and result["sent"]["reply"] > 0
    assert result["conversations"] >= 6
    assert result["reconnects"]["count"] > 0
    # A measuring tool counts honestly: nothing acked that was not sent, nothing given up.
    for side in ("teen", "reply"):
        assert result["acked"][side] <= result["sent"][side]
    assert total(result["unacked"]) == 0, result["unacked"]
    assert result["sigterm"]["exit"] == [0], result["sigterm"]
    if SIGTERM_CLOSES_WITH_1012:
        assert set(result["sigterm"]["close_codes"]) == {"1012"}, result["sigterm"]

    for name, wanted in ASSERTED.items():
        assert total(result[name]) == wanted, f"{name}: {result[name]}"
    not_yet = {name: result[name] for name, wanted in REPORTED.items() if total(result[name]) != wanted}
    if not_yet:
        warnings.warn(f"fault run, not yet at 0 (issue #10): {not_yet}", stacklevel=1)


def audit_case():
    """Two teens, two consoles and a store in which each defect the run counts happens once."""
    record = Record()
    teens = [Teen(i, [], record, random.Random(i), deadline=0.0) for i in range(2)]
    consoles = [Counsellor(j, f"c{j}", "pw", [], record, random.Random(j), deadline=0.0) for j in range(2)]
    for j, console in enumerate(consoles):
        console.me_id = f"counsellor-{j}"

    def line(conversation, seq, author, text):
        return Message(conversation, seq, author, text, at=1.0)

    stored = Stored()
    stored.histories = {
        "conv-a": [line("conv-a", 1, Author.TEEN, "[t0.0] a"), line("conv-a", 2, Author.COUNSELLOR, "[r0.x.1] b"),
                   line("conv-a", 3, Author.TEEN, "[t0.1] c"), line("conv-a", 4, Author.TEEN, "[t0.1] c")],
        "conv-b": [line("conv-b", 1, Author.TEEN, "[t1.0] d")],
    }
    stored.owner = {"conv-a": "counsellor-0", "conv-b": "counsellor-1"}
    stored.state = {"conv-a": ConversationState.ASSIGNED, "conv-b": ConversationState.ASSIGNED}
    stored.opened = {"conv-a": 1.0, "conv-b": 2.0}
    record.teen_sent = {"[t0.0] a": 0, "[t0.1] c": 0, "[t1.0] d": 1, "[t1.1] lost": 1}
    record.teen_acked = set(record.teen_sent)  # "[t1.1] lost" was acked, never stored
    record.reply_sent = {"[r0.x.1] b": 0}
    record.reply_acked = {"[r0.x.1] b"}
    teens[0].screen = {1: ("teen", "[t0.0] a"), 3: ("teen", "[t0.1] c")}  # the reply never reached it
    teens[1].screen = {1: ("teen", "[t1.0] d")}
    consoles[0].held = {"conv-a", "conv-b"}  # conv-b was moved to console 1 without telling console 0
    consoles[0].screens = {"conv-a": {1: ("teen", "[t0.0] a"), 3: ("teen", "[t0.1] c")}}
    consoles[1].held = {"conv-b"}
    consoles[1].screens = {"conv-b": {}}  # its teen line was never pushed
    return stored, record, teens, consoles


def test_the_audit_counts_each_defect_it_is_shown():
    """The measuring tool can fail: each kind of defect, planted once, is counted once."""
    result = verdict(*audit_case())
    assert result["lost"] == {"teen": 1, "reply": 0}
    assert result["duplicated"] == 1  # "[t0.1] c" at seq 3 and 4
    assert result["seen_only_after_reload"] == {"teen": 1, "console": 2}  # the reply; "d" and seq 4 of conv-a
    assert result["double_assigned"] == 1
    assert result["stale_holds"] == 1
    assert not_zero(result) == list(MUST_BE_ZERO)
    assert not_zero({"lost": {"teen": 0, "reply": 0}, "duplicated": 0,
                     "seen_only_after_reload": {"teen": 0, "console": 0}, "double_assigned": 0}) == []
