"""Evaluation report (JSON and HTML): AUC, PR-AUC, precision/recall at the branch's contact capacity, lift by
decile, calibration curve; accuracy only beside the base rate; drift (PSI) and decay when present."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any


def _f(v: Any, pct: bool = False) -> str:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return f"{v * 100:.1f}%" if pct else f"{v:.4f}" if isinstance(v, float) else str(v)
    return html.escape(str(v))


def _table(rows: list[dict[str, Any]], cols: list[tuple[str, str, bool]]) -> str:
    head = "".join(f"<th>{html.escape(t)}</th>" for _, t, _ in cols)
    body = "".join("<tr>" + "".join(f"<td>{_f(r.get(k), p)}</td>" for k, _, p in cols) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _block(title: str, ev: dict[str, Any]) -> str:
    cap = ev["at_capacity"]
    parts = [
        f"<h2>{html.escape(title)}</h2>",
        "<table>",
        f"<tr><th>样本数 rows</th><td>{ev['n']}</td></tr>",
        f"<tr><th>基准率 base rate</th><td>{_f(ev['base_rate'], True)}</td></tr>",
        f"<tr><th>AUC</th><td>{_f(ev['auc'])}</td></tr>",
        f"<tr><th>PR-AUC</th><td>{_f(ev['pr_auc'])}（随机模型约等于基准率 {_f(ev['base_rate'], True)}）</td></tr>",
        f"<tr><th>前 {cap['k']} 名（网点外呼能力）精确率 precision@k</th><td>{_f(cap['precision'], True)}</td></tr>",
        f"<tr><th>前 {cap['k']} 名召回率 recall@k</th><td>{_f(cap['recall'], True)}</td></tr>",
        f"<tr><th>前 {cap['k']} 名提升度 lift@k</th><td>{_f(cap['lift'])}</td></tr>",
        f"<tr><th>准确率 accuracy（阈值 0.5）</th><td>{_f(ev['accuracy'], True)} — 全部判为“否”的准确率为 "
        f"{_f(ev['accuracy_of_always_no'], True)}，准确率本身说明不了模型好坏</td></tr>",
        f"<tr><th>Brier</th><td>{_f(ev['brier'])}</td></tr>",
        "</table>",
        "<h3>分十组提升度 lift by decile（第1组 = 得分最高）</h3>",
        _table(ev["lift_by_decile"], [("decile", "组", False), ("n", "人数", False), ("rate", "实际发生率", True),
                                      ("lift", "提升度", False), ("min_score", "最低得分", False)]),
        "<h3>校准曲线 calibration</h3>",
        _table(ev["calibration"], [("bin", "组", False), ("n", "人数", False), ("predicted", "预测概率", True),
                                   ("observed", "实际发生率", True)]),
    ]
    return "\n".join(parts)


def _value_block(h: dict[str, Any]) -> str:
    """Customer value (BG/NBD): predicted vs actual spend days in the hold-out period, beside the naive rate."""
    return "\n".join([
        "<h2>客户价值留出期评估 customer value hold-out</h2><table>",
        f"<tr><th>客户数 customers</th><td>{h['customers']}</td></tr>",
        f"<tr><th>留出期（周）horizon weeks</th><td>{_f(h['horizon_weeks'])}</td></tr>",
        f"<tr><th>消费天数 预测/实际 spend days predicted / actual</th><td>{h['predicted_total']:,.0f} / "
        f"{h['actual_total']:,.0f}（比值 {_f(h['total_ratio'])}）</td></tr>",
        f"<tr><th>平均绝对误差 MAE</th><td>{_f(h['mae'])}（按以往频率外推 naive {_f(h['naive_mae'])}）</td></tr>",
        f"<tr><th>排序相关 Spearman</th><td>{_f(h['spearman'])}（naive {_f(h['naive_spearman'])}）</td></tr>",
        f"<tr><th>预测前 10% 客户占实际消费天数 top-decile share</th><td>{_f(h['top_decile_share_of_actual'], True)}</td></tr>",
        "</table>",
        "<h3>分十组 by decile（第1组 = 预测最高）</h3>",
        _table(h["by_decile"], [("decile", "组", False), ("predicted", "预测消费天数", False),
                                ("actual", "实际消费天数", False)]),
    ])


def to_html(report: dict[str, Any]) -> str:
    title = f"模型评估报告 {report.get('model', '')}"
    parts = [f"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:.5em 0}"
             "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             f"<p>目标 target：{html.escape(str(report.get('target', '')))}；划分 split：{html.escape(str(report.get('split', '')))}</p>"]
    if "test" in report:
        parts.append(_block("留出期评估 held-out evaluation", report["test"]))
    if "holdout" in report:
        parts.append(_value_block(report["holdout"]))
    if "qini" in report:
        lo, hi = report.get("qini_ci", [float("nan"), float("nan")])
        parts.append("<h2>权益敏感度（增量模型）uplift</h2><table>"
                     f"<tr><th>样本数 contacts</th><td>{report.get('test_rows', '')}</td></tr>"
                     f"<tr><th>Qini</th><td>{_f(report['qini'])}（95% 置信区间 {_f(lo)} … {_f(hi)}）</td></tr>"
                     f"<tr><th>得分前 30% 的增量 uplift@30%</th><td>{_f(report.get('uplift_at_30pct'))}</td></tr>"
                     f"<tr><th>整体实际增量 observed uplift</th><td>{_f(report.get('observed_uplift'))}</td></tr>"
                     "</table>")
    if "psi_vs_train" in report or "psi_test_vs_train" in report:
        psi = float(report.get("psi_vs_train", report.get("psi_test_vs_train")) or 0.0)
        verdict = "稳定" if psi < 0.1 else "轻微漂移" if psi < 0.25 else "显著漂移，需重新训练"
        parts.append(f"<h2>得分漂移 score drift (PSI)</h2><p>PSI = {_f(psi)}（{verdict}）</p>")
    if "decay" in report:
        d = report["decay"]
        metric = d.get("metric", "AUC")
        before, now = d.get("auc_at_registration", d.get("at_registration")), d.get("auc_now", d.get("now"))
        parts.append(f"<h2>效果衰减 decay</h2><p>注册时 {html.escape(metric)} {_f(before)}，标签成熟后 "
                     f"{html.escape(metric)} {_f(now)}，变化 {_f(d['change'])}</p>")
    if "oracle" in report:
        o = report["oracle"]
        parts.append(f"<h2>与真值对比 oracle (synthetic bank only)</h2><p>真实风险率的 AUC {_f(o['auc'])}"
                     f"（{o['rows']} 行）</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write ``<out>.json`` and ``<out>.html``; returns both paths."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    j, h = out.with_suffix(".json"), out.with_suffix(".html")
    j.write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    h.write_text(to_html(report), encoding="utf-8")
    return j, h
