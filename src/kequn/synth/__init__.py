"""The synthetic regional bank (模拟银行) with known ground truth, and its response simulator.

- ``kequn.synth.generate.generate(out, SynthParams(...))`` — what ``kequn synth`` runs: the 22 canonical
  tables, ``truth/`` and ``manifest.json`` (docs/synth.md).
- ``kequn.synth.simulator.ResponseSimulator`` — outcomes of marketing contacts drawn from the truth (the
  "sandbox" channel of campaigns), with the true expected effect per arm.

Modules: ``population`` (parties and hidden traits), ``state`` (accounts, churn phase), ``dynamics`` (a
customer month: churn, assets, openings, loans), ``flows`` (transactions, balances), ``events``,
``merchants``, ``links`` (consent, payroll, gov data, relationships), ``tables`` (static tables),
``truth``, ``response``, ``writer`` (Arrow/Parquet/CSV output), ``vocab`` and ``catalogue`` (fixed lists).
"""
