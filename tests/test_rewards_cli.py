"""`kequn rewards …` end to end on the embedded ops store: the commands a member-operations team uses."""

from __future__ import annotations

import json

from kequn.cli.main import main


def _json(capsys, argv):
    capsys.readouterr()
    code = main(["--json", *argv])
    return code, json.loads(capsys.readouterr().out or "null")


def test_rewards_cli_story(data_dir, capsys, tmp_path):
    assert main(["init"]) == 0
    code, synced = _json(capsys, ["rewards", "sync-catalogue"])
    assert code == 0 and synced["added"] >= 100
    assert _json(capsys, ["rewards", "earn", "C001", "1000", "--key", "k1"])[1]["kind"] == "earn"
    replay = _json(capsys, ["rewards", "earn", "C001", "1000", "--key", "k1"])[1]
    assert replay["replayed"] is True
    code, red = _json(capsys, ["rewards", "redeem", "C001", "COUPON_001", "--key", "r1"])
    assert code == 0 and red["points"] == 500
    assert _json(capsys, ["rewards", "balance", "C001"])[1] == {"customer": "C001", "balance": 500, "available": 500}
    code, _ = _json(capsys, ["rewards", "reverse", str(red["redemption_id"]), "--key", "rev1", "--reason", "退货"])
    assert code == 0
    assert _json(capsys, ["rewards", "balance", "C001"])[1]["balance"] == 1000
    # refused: not enough points → one line, exit code of a conflict, nothing posted
    capsys.readouterr()
    assert main(["rewards", "redeem", "C001", "HEALTH_001", "--key", "r2"]) != 0
    assert "error:" in capsys.readouterr().err
    assert _json(capsys, ["rewards", "fund", "SPRING", "100.50", "--key", "f1"])[0] == 0
    code, drawn = _json(capsys, ["rewards", "draw", "spring_box", "C001", "SPRING", "--key", "d1"])
    assert code == 0 and drawn["reward_id"]
    assert _json(capsys, ["rewards", "verify"])[1] == {"ok": True}
    cands = tmp_path / "cands.csv"
    cands.write_text("customer_id,reward_id,uplift,cost\nA,X,10,5\nB,X,3,5\nC,Y,8,2\n", encoding="utf-8")
    code, alloc = _json(capsys, ["rewards", "allocate", str(cands), "--budget", "7"])
    assert code == 0 and alloc["chosen"] == 2 and alloc["expected_incremental_value"] == 18.0


def test_bad_amount_is_a_clear_error(data_dir, capsys):
    assert main(["init"]) == 0
    capsys.readouterr()
    assert main(["rewards", "fund", "X", "12.345", "--key", "f"]) == 2
    assert "at most 2 decimals" in capsys.readouterr().err
