"""`kequn models …` — prediction models (透视图): train, evaluate, score, list, submit/approve/promote,
compare champion and challenger, public benchmarks and the generic train-table path."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

models_app = typer.Typer(help="预测模型 (透视图): churn, demand, potential, reward sensitivity; registry and scoring.",
                         no_args_is_help=True)

User = Annotated[str, typer.Option("--as", help="Who is acting (recorded in the registry and audit log).")]
Version = Annotated[int | None, typer.Option("--version", help="Model version (default: champion/latest).")]
AsOf = Annotated[str | None, typer.Option("--as-of", help="Snapshot date YYYY-MM-DD.")]
Truth = Annotated[Path | None, typer.Option("--truth", help="Synthetic bank truth/ folder: adds the oracle "
                                                            "figures to the evaluation (never used to train).")]
Report = Annotated[Path | None, typer.Option("--report", help="Write <path>.json and <path>.html.")]
Capacity = Annotated[int | None, typer.Option("--capacity", help="Branch contact capacity: top k for precision/recall.")]


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")


def _out(ctx: typer.Context) -> Any:
    from kequn.cli.main import console

    return console(ctx)


def _stores() -> tuple[Any, Any]:
    from kequn.opstore import open_default as ops
    from kequn.warehouse import open_default

    return open_default(), ops()


def _day(text: str | None) -> dt.date | None:
    from kequn.domain.days import optional_day

    return optional_day(text)


def _summary(metrics: dict[str, Any]) -> str:
    t = metrics["test"]
    cap = t["at_capacity"]
    lines = [f"split: {metrics.get('split', '')}",
             f"base rate {t['base_rate']:.2%}  AUC {t['auc']:.4f}  PR-AUC {t['pr_auc']:.4f}",
             f"top {cap['k']}: precision {cap['precision']:.2%}  recall {cap['recall']:.2%}  lift {cap['lift']:.2f}",
             f"accuracy {t['accuracy']:.2%} (always 'no': {t['accuracy_of_always_no']:.2%})"]
    if "oracle" in metrics:
        lines.append(f"oracle AUC {metrics['oracle']['auc']:.4f} (gap {metrics['oracle']['auc'] - t['auc']:+.4f})")
    return "\n".join(lines)


@models_app.command("train", help="Train a model on point-in-time snapshots (out of time) and register a draft.")
def train_cmd(ctx: typer.Context, name: Annotated[str, typer.Argument(help="retail_churn, merchant_churn, "
              "high_potential, demand_<kind>, reward_sensitivity, customer_value (BG/NBD; --as-of = calibration "
              "end)")], user: User,
              kind: Annotated[str, typer.Option("--kind", help="lightgbm | logistic (uplift: dr-offer (default) | "
                                                   "t-offer | t | x | ct)")] = "",
              truth: Truth = None, report: Report = None, capacity: Capacity = None,
              simulate: Annotated[Path | None, typer.Option("--simulate", help="reward_sensitivity: train on a "
                                  "randomised sandbox campaign run through this synthetic bank's simulator.")] = None,
              as_of: AsOf = None,
              waves: Annotated[int, typer.Option("--waves", min=1, max=64, help="reward_sensitivity with "
                                                 "--simulate: repeat the randomised campaign this many times")] = 1,
              ) -> None:
    from kequn.models import report as R

    wh, engine = _stores()
    if name == "reward_sensitivity":
        from kequn.models import reward

        mv, metrics = reward.train(wh, engine, user=user, kind=kind or reward.DEFAULT_LEARNER, truth=truth,
                                   simulate=simulate, as_of=_day(as_of), waves=waves)
        _out(ctx).result({"model": mv.ref, "status": mv.status, "metrics": metrics},
                         human=f"registered {mv.ref} (draft)\nQini {metrics['qini']:.5f} "
                               f"CI {metrics['qini_ci']}" + (f"; oracle {metrics.get('oracle_qini', float('nan')):.5f}"
                                                            if "oracle_qini" in metrics else ""))
        return
    if name == "customer_value":
        from kequn.models import clv

        mv, metrics = clv.train(wh, engine, user=user, calibration_end=_day(as_of))
        h = metrics["holdout"]
        _out(ctx).result({"model": mv.ref, "status": mv.status, "metrics": metrics},
                         human=f"registered {mv.ref} (draft)\nsplit: {metrics['split']}\nspend days predicted "
                               f"{h['predicted_total']:,.0f} vs actual {h['actual_total']:,.0f} (ratio "
                               f"{h['total_ratio']:.2f}); MAE {h['mae']:.2f} (naive {h['naive_mae']:.2f}); "
                               f"Spearman {h['spearman']:.3f}")
        return
    from kequn.models import train

    mv, metrics = train.train(wh, engine, name, user=user, kind=kind or "lightgbm", truth=truth, capacity=capacity)
    if report:
        R.write({"model": mv.ref, "target": mv.target, **metrics}, report)
    _out(ctx).result({"model": mv.ref, "status": mv.status, "metrics": metrics},
                     human=f"registered {mv.ref} (draft)\n{_summary(metrics)}")


@models_app.command("evaluate", help="Evaluate a version on the latest matured labels: metrics, drift, decay.")
def evaluate_cmd(ctx: typer.Context, name: str, version: Version = None, as_of: AsOf = None,
                 truth: Truth = None, report: Report = None, capacity: Capacity = None) -> None:
    from kequn.models import report as R
    from kequn.models import train

    wh, engine = _stores()
    ev = train.evaluate(wh, engine, name, version, as_of=_day(as_of), capacity=capacity, truth=truth)
    if report:
        R.write(ev, report)
    _out(ctx).result(ev, human=f"{ev['model']} ({ev['status']})\n{_evaluation_summary(ev)}")


def _evaluation_summary(ev: dict[str, Any]) -> str:
    """The evaluation in a few lines: classification models, customer value (BG/NBD) or reward uplift."""
    decay = ev.get("decay", {})
    if "holdout" in ev:  # customer value
        h = ev["holdout"]
        return (f"split: {ev['split']}\nspend days predicted {h['predicted_total']:,.0f} vs actual "
                f"{h['actual_total']:,.0f} (ratio {h['total_ratio']:.2f}); MAE {h['mae']:.2f} (naive "
                f"{h['naive_mae']:.2f}); Spearman {h['spearman']:.3f} (at registration "
                f"{decay.get('at_registration', float('nan')):.3f})\nPSI vs training {ev['psi_vs_train']:.4f}")
    if "qini" in ev:  # reward uplift
        return (f"split: {ev['split']}\n{ev['test_rows']} contacts; Qini {ev['qini']:.5f} CI "
                f"[{ev['qini_ci'][0]:.5f}, {ev['qini_ci'][1]:.5f}] (at registration "
                f"{decay.get('at_registration', float('nan')):.5f}); uplift in the top 30 % "
                f"{ev['uplift_at_30pct']:.4f}, observed average {ev['observed_uplift']:.4f}")
    return f"{_summary(ev)}\nPSI vs training {ev['psi_vs_train']:.4f}"


@models_app.command("score", help="Score customers with an approved/champion model; scores and reasons → tags.")
def score_cmd(ctx: typer.Context, name: str, version: Version = None, as_of: AsOf = None) -> None:
    from kequn.models import scoring, spark_scoring

    wh, engine = _stores()
    run = (spark_scoring if wh.kind == "spark" else scoring).score(wh, engine, name, version, as_of=_day(as_of))
    _out(ctx).result(run.__dict__, human=f"{run.model}: {run.rows} scores ({run.score_name}) as of {run.as_of} "
                                         f"in {sum(run.seconds.values()):.1f}s")


@models_app.command("list", help="The model registry.")
def list_cmd(ctx: typer.Context, name: Annotated[str | None, typer.Argument()] = None) -> None:
    from kequn.models import registry

    _, engine = _stores()
    rows = [{"model": m.name, "version": m.version, "status": m.status, "kind": m.kind, "created_by": m.created_by,
             "approved_by": m.approved_by or "", "auc": round(m.metrics.get("test", {}).get("auc", float("nan")), 4)
             if "test" in m.metrics else m.metrics.get("qini"), "test_dates": ",".join(m.test_dates)}
            for m in registry.list_models(engine, name)]
    _out(ctx).table(rows, title="模型注册表 model registry")


@models_app.command("submit", help="Ask for approval of a draft version (maker).")
def submit_cmd(ctx: typer.Context, name: str, user: User, version: Annotated[int, typer.Option("--version")]) -> None:
    from kequn.models import registry

    _, engine = _stores()
    req = registry.submit(engine, name, version, user)
    _out(ctx).result({"request": req.id, "status": req.status}, human=f"change request {req.id} awaits a checker")


@models_app.command("approve", help="Approve a submitted version (checker ≠ maker).")
def approve_cmd(ctx: typer.Context, name: str, user: User, version: Annotated[int, typer.Option("--version")]) -> None:
    from kequn.models import registry

    _, engine = _stores()
    mv = registry.approve(engine, name, version, user)
    _out(ctx).result({"model": mv.ref, "status": mv.status}, human=f"{mv.ref} approved by {user}")


@models_app.command("promote", help="Make an approved version the champion (the previous one is retired).")
def promote_cmd(ctx: typer.Context, name: str, user: User, version: Annotated[int, typer.Option("--version")],
                reason: Annotated[str | None, typer.Option("--reason")] = None) -> None:
    from kequn.models import registry

    _, engine = _stores()
    mv = registry.promote(engine, name, version, user, reason)
    _out(ctx).result({"model": mv.ref, "status": mv.status}, human=f"{mv.ref} is now the champion")


@models_app.command("compare", help="Champion vs challenger on the same matured snapshot.")
def compare_cmd(ctx: typer.Context, name: str, as_of: AsOf = None, capacity: Capacity = None) -> None:
    from kequn.models import train

    wh, engine = _stores()
    res = train.compare(wh, engine, name, as_of=_day(as_of), capacity=capacity)
    _out(ctx).result(res, human=f"champion {res['champion']['model']} AUC {res['champion']['test']['auc']:.4f}; "
                                f"challenger {res['challenger']['model']} AUC {res['challenger']['test']['auc']:.4f} "
                                f"({res['auc_difference']:+.4f})")


@models_app.command("benchmark-public", help="Standard public tasks beside their published figures.")
def benchmark_cmd(ctx: typer.Context, directory: Annotated[Path, typer.Argument(help="datasets folder")]) -> None:
    from kequn.models.public import run_public

    results = run_public(directory)
    rows = [dict(r.__dict__) for r in results]
    _out(ctx).table(rows, title="公开数据基准 public benchmarks", json_obj=rows)


@models_app.command("train-table", help="Train/evaluate on any table with a binary target column.")
def train_table_cmd(ctx: typer.Context, file: Path,
                    target: Annotated[str, typer.Option("--target", help="The target column.")],
                    positive: Annotated[str | None, typer.Option("--positive")] = None,
                    time_column: Annotated[str | None, typer.Option("--time-column", help="Out-of-time split by it.")] = None,
                    drop: Annotated[list[str] | None, typer.Option("--drop", help="Columns not to use.")] = None,
                    report: Report = None, capacity: Capacity = None) -> None:
    from kequn.models import report as R
    from kequn.models.generic import train_table

    res = train_table(file, target, positive=positive, time_column=time_column, drop=drop, capacity=capacity)
    if report:
        R.write({"model": f"table:{file.name}", **res}, report)
    lr = res["logistic"]
    _out(ctx).result(res, human=f"{_summary(res)}\nlogistic baseline AUC {lr['auc']:.4f}")
