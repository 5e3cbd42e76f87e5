"""Loan product ladder and best-rate routing (贷款产品阶梯与最优利率路由), issue 8.

- :mod:`kequn.routing.router` — pure: application + compiled ladder → :class:`~kequn.domain.loans.Decision`
- :mod:`kequn.routing.rules` — eligibility rules compiled to closures that explain themselves in Chinese
- :mod:`kequn.routing.ladder` — YAML ladder, validation, maker-checker versions in the ops store
- :mod:`kequn.routing.explain` — the decision in words for the customer (PIPL Art. 24)
- :mod:`kequn.routing.store` — decision log, review queue, branch leads (ops store)
- :mod:`kequn.routing.replay` — replay a version over past applications; champion/challenger split
- :mod:`kequn.routing.service` — the use-cases the CLI and API call
"""

from kequn.routing.router import CompiledLadder, compile_ladder, route

__all__ = ["CompiledLadder", "compile_ladder", "route"]
