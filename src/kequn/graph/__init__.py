"""Relationship graph (关系图谱) and panorama (全景图): B→C payroll, merchant owners, households,
guarantors and G→B→C programme chains, all as Ibis expressions (see :mod:`kequn.graph.queries`)."""

from kequn.graph.queries import (
    app_active,
    chain_members,
    chains,
    edges,
    employee_facts,
    employees_without,
    employer_of,
    headcount_change,
    headcount_fell,
    holdings,
    neighbours,
    panorama,
    payroll_pairs,
    programmes_of,
)

__all__ = [
    "app_active", "chain_members", "chains", "edges", "employee_facts", "employees_without", "employer_of",
    "headcount_change", "headcount_fell", "holdings", "neighbours", "panorama", "payroll_pairs", "programmes_of",
]
