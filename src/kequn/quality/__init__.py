"""Data quality (数据质量): rules declared as data (``catalog/dq_rules.yaml``), run as Ibis expressions in
the warehouse, results kept with history in the ops store.

- :func:`load_rules` reads and validates a rule file (default: the packaged one);
- :func:`run` runs the rules and stores a ``dq_run`` with its ``dq_result`` rows;
- :func:`history` lists recent runs with pass / fail counts (the monitor charts them).
"""

from kequn.quality.rules import DEFAULT_RULES_FILE, RULE_KINDS, load_rules, parse_rules
from kequn.quality.runner import DQReport, RuleResult, RunSummary, evaluate, history, rule_history, run

__all__ = ["DEFAULT_RULES_FILE", "RULE_KINDS", "DQReport", "RuleResult", "RunSummary", "evaluate", "history",
           "load_rules", "parse_rules", "rule_history", "run"]
