"""The synthetic regional bank (模拟银行) with known ground truth, and its response simulator.

- ``kequn.synth.generate(out, customers=…, months=…, seed=…)`` (keyword form, returns the manifest plus
  ``rows``) or ``kequn.synth.generate.generate(out, SynthParams(...))`` — what ``kequn synth`` runs: the 22
  canonical tables, ``truth/`` and ``manifest.json`` (docs/synth.md). Note: the package attribute
  ``kequn.synth.generate`` is the keyword function; ``from kequn.synth.generate import …`` still reaches the
  module.
- ``kequn.synth.simulator.ResponseSimulator`` — outcomes of marketing contacts drawn from the truth (the
  "sandbox" channel of campaigns), with the true expected effect per arm.

Modules: ``population`` (parties and hidden traits), ``state`` (accounts, churn phase), ``dynamics`` (a
customer month: churn, assets, openings, loans), ``flows`` (transactions, balances), ``events``,
``merchants``, ``links`` (consent, payroll, gov data, relationships), ``tables`` (static tables),
``truth``, ``response``, ``writer`` (Arrow/Parquet/CSV output), ``vocab`` and ``catalogue`` (fixed lists).
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path as _Path
from typing import Any as _Any

from kequn.synth.generate import DEFAULT_END, SynthParams


def generate(out: _Path | str, *, customers: int = 20_000, months: int = 12, seed: int = 42,
             end: _dt.date = DEFAULT_END, fmt: str = "parquet", progress: _Any = None) -> dict[str, _Any]:
    """Keyword form of :func:`kequn.synth.generate.generate`; the result also has ``rows`` (= ``row_counts``)."""
    from kequn.synth.generate import generate as _generate

    manifest = _generate(_Path(out), SynthParams(customers=customers, months=months, seed=seed, end=end, fmt=fmt),
                         progress=progress)
    return {**manifest, "rows": manifest["row_counts"]}


__all__ = ["DEFAULT_END", "SynthParams", "generate"]
