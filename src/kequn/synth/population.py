"""The parties of the synthetic bank and their hidden traits: branches, staff, customers, enterprises,
merchants. Everything is drawn once, vectorised, from one seeded generator per entity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kequn.synth import vocab as V
from kequn.synth.calendar import day_number, to_date

EMPLOYED = np.isin(V.OCCUPATIONS, ["企业职员", "公务员/事业单位", "专业技术人员", "教师", "医护人员",
                                   "外卖/快递骑手"])
OCC_INCOME = np.array([6500, 8000, 7000, 11000, 5000, 900, 3200, 3000, 7500, 9000, 6500, 15000], float)


@dataclass
class Branches:
    ids: np.ndarray  # str
    names: np.ndarray
    level: np.ndarray
    parent: np.ndarray  # index or -1
    city: np.ndarray  # index into V.CITY_NAMES
    opened: np.ndarray  # day
    subs: np.ndarray  # indices of sub-branches


def make_branches(rng: np.random.Generator, n_customers: int) -> Branches:
    n_br = int(np.clip(5 + n_customers // 75_000, 5, 20))
    ids, names, level, parent, city = ["B0000"], [f"{V.BANK}总行"], ["hq"], [-1], [0]
    for b in range(n_br):
        c = 0 if b < max(2, n_br * 2 // 5) else 1 + (b % (len(V.CITY_NAMES) - 1))
        bi = len(ids)
        ids.append(f"B{b + 1:02d}00")
        names.append(f"{V.BANK}{V.CITY_NAMES[c]}{'分行' if c else f'第{b + 1}支行管理部'}")
        level.append("branch")
        parent.append(0)
        city.append(c)
        for s in range(int(rng.integers(3, 9)) + n_customers // 250_000):
            ids.append(f"B{b + 1:02d}{s + 1:02d}")
            names.append(f"{V.BANK}{V.CITY_NAMES[c]}{V.ENT_WORDS[(b * 7 + s) % len(V.ENT_WORDS)]}支行")
            level.append("sub_branch")
            parent.append(bi)
            city.append(c)
    lv = np.array(level)
    founded = day_number(to_date(0).replace(year=1997))
    par = np.array(parent)
    opened = founded + rng.integers(0, 3 * 365, len(ids))
    opened[0] = founded
    opened = np.where(lv == "sub_branch", opened[np.maximum(par, 0)] + rng.integers(0, 10 * 365, len(ids)), opened)
    return Branches(np.array(ids), np.array(names), lv, par, np.array(city), opened,
                    np.flatnonzero(lv == "sub_branch"))


@dataclass
class Staff:
    ids: np.ndarray
    names: np.ndarray
    branch: np.ndarray
    role: np.ndarray
    hired: np.ndarray
    rm_by_branch: dict[int, np.ndarray]


def make_staff(rng: np.random.Generator, br: Branches, n_customers: int, end_day: int) -> Staff:
    branch, role = [], []
    n_rm = max(len(br.subs), n_customers // 400)
    rm_branch = br.subs[np.arange(n_rm) % len(br.subs)]
    for b in range(len(br.ids)):
        branch.append(b)
        role.append("branch_manager")
        if br.level[b] == "sub_branch":
            branch += [b, b]
            role += ["teller", "teller"]
    branch += list(rm_branch)
    role += ["rm"] * n_rm
    branch += [0] * 5
    role += ["other"] * 5
    n = len(branch)
    b_arr, r_arr = np.array(branch), np.array(role)
    rm_idx = np.flatnonzero(r_arr == "rm")
    hired = np.maximum(end_day - rng.integers(30, 25 * 365, n), br.opened[b_arr])
    return Staff(np.array([f"S{i + 1:06d}" for i in range(n)]), V.person_names(rng, n), b_arr, r_arr, hired,
                 {int(b): rm_idx[b_arr[rm_idx] == b] for b in br.subs})


@dataclass
class Customers:
    """Observable attributes and hidden traits of every retail customer (index = customer number - 1)."""

    n: int
    name: np.ndarray
    id_number: np.ndarray
    phone: np.ndarray
    male: np.ndarray
    birth: np.ndarray  # day
    age: np.ndarray
    occupation: np.ndarray  # index into V.OCCUPATIONS
    city: np.ndarray
    branch: np.ndarray  # index into branches
    rm: np.ndarray  # staff index or -1
    onboard: np.ndarray  # day
    new_citizen: np.ndarray
    # hidden traits
    income: np.ndarray  # monthly, yuan
    employer: np.ndarray  # enterprise index or -1 (payroll customer)
    engagement: np.ndarray  # 0..1
    app_user: np.ndarray
    login_rate: np.ndarray  # app sessions per month
    spend_rate: np.ndarray  # card payments per month
    spend_scale: np.ndarray  # ticket multiplier
    night_owl: np.ndarray
    has_car: np.ndarray
    fav_mcc: np.ndarray  # (n, 3)
    aum0: np.ndarray  # assets at window start, yuan
    potential: np.ndarray  # asset potential, yuan
    frailty: np.ndarray  # churn proneness
    credit_risk: np.ndarray  # 0..1
    responsiveness: np.ndarray  # general marketing responsiveness 0..1
    gov_consent: np.ndarray


def make_customers(rng: np.random.Generator, n: int, br: Branches, st: Staff, window_start: int,
                   end_day: int) -> Customers:
    age = np.clip(rng.normal(41, 14, n), 18, 85).astype(int)
    male = rng.random(n) < 0.5
    birth = end_day - age * 365 - rng.integers(0, 365, n)
    occ_p = np.array([30, 8, 10, 8, 8, 0, 0, 4, 4, 4, 5, 4], float)
    occ = rng.choice(len(V.OCCUPATIONS), n, p=occ_p / occ_p.sum())
    occ = np.where((age >= 60) & (rng.random(n) < 0.85), 6, occ)
    occ = np.where((age < 23) & (rng.random(n) < 0.7), 5, occ)
    sub_w = rng.pareto(2.0, len(br.subs)) + 0.5
    branch = br.subs[rng.choice(len(br.subs), n, p=sub_w / sub_w.sum())]
    city = br.city[branch]
    young = (age >= 22) & (age <= 40)
    new_cit = rng.random(n) < np.where(young, 0.24, 0.06)
    tenure = np.minimum(rng.exponential(6 * 365, n), (age - 17) * 365)
    tenure = np.where(new_cit, np.minimum(tenure, rng.integers(30, 5 * 365, n)), tenure)
    onboard = np.maximum((window_start - tenure).astype(np.int64) - 1, br.opened[branch])  # not before the branch
    fresh = rng.random(n) < 0.10  # onboarded during the window
    onboard = np.where(fresh, rng.integers(window_start, end_day - 3, n), onboard)
    area = np.where(new_cit, rng.choice(V.OTHER_AREAS, n), V.CITY_AREA[city]).astype(np.int64)
    ymd = _ymd(birth)
    income = OCC_INCOME[occ] * np.exp(rng.normal(0, 0.5, n)) * np.where(city == 0, 1.15, 1.0)
    employer = np.full(n, -1)  # filled by make_enterprises
    eng = np.clip(rng.beta(2, 3, n) + np.where(age < 35, 0.12, 0) - np.where(age > 62, 0.15, 0), 0.01, 0.99)
    app_user = rng.random(n) < np.clip(0.3 + 0.7 * eng - np.where(age > 65, 0.3, 0), 0.05, 0.98)
    login_rate = np.where(app_user, (1.0 + 13 * eng ** 1.5) * np.exp(rng.normal(0, 0.4, n)), 0.0)
    spend_rate = (1.2 + 5 * eng) * np.clip(income / 6000, 0.4, 2.5) ** 0.4 * np.exp(rng.normal(0, 0.35, n))
    has_car = rng.random(n) < np.clip(0.12 + income / 40000, 0, 0.7) * ((age >= 23) & (age < 72))
    mcc_p = np.tile(V.MCC_P, (n, 1)) * rng.gamma(0.6, 1.0, (n, len(V.MCC_P)))
    mcc_p[:, V.FUEL_MCC] = np.where(has_car, mcc_p[:, V.FUEL_MCC] + 0.4, 0.0)
    fav = np.argsort(-mcc_p, axis=1)[:, :3]
    aum0 = np.exp(rng.normal(np.log(income * 3.5) + 0.025 * (age - 40), 1.25))
    potential = aum0 * np.exp(np.abs(rng.normal(0.15, 0.6, n)) + np.where((age > 28) & (age < 50), 0.2, 0))
    rich = aum0 > np.quantile(aum0, 0.9)
    rm = np.full(n, -1)
    gets_rm = rich | (rng.random(n) < 0.05)
    for b in np.unique(branch[gets_rm]):
        pool = st.rm_by_branch.get(int(b))
        sel = np.flatnonzero(gets_rm & (branch == b))
        if pool is not None and len(pool):
            rm[sel] = rng.choice(pool, len(sel))
    return Customers(
        n=n, name=V.person_names(rng, n), id_number=V.id_numbers(rng, area, ymd, male), phone=V.phones(rng, n),
        male=male, birth=birth, age=age, occupation=occ, city=city, branch=branch, rm=rm, onboard=onboard,
        new_citizen=new_cit, income=income, employer=employer, engagement=eng, app_user=app_user,
        login_rate=login_rate, spend_rate=spend_rate, spend_scale=np.exp(rng.normal(0, 0.45, n)) * (income / 6000) ** 0.3,
        night_owl=rng.random(n) < np.where(age < 35, 0.25, 0.06), has_car=has_car, fav_mcc=fav, aum0=aum0,
        potential=potential, frailty=rng.normal(0, 0.6, n), credit_risk=rng.beta(1.2, 12, n),
        responsiveness=rng.beta(2, 5, n), gov_consent=rng.random(n) < 0.25,
    )


def _ymd(days: np.ndarray) -> np.ndarray:
    d = days.astype("datetime64[D]")
    y = d.astype("datetime64[Y]").astype(int) + 1970
    m = (d.astype("datetime64[M]") - d.astype("datetime64[Y]")).astype(int) + 1
    dd = (d - d.astype("datetime64[M]")).astype(int) + 1
    return y * 10000 + m * 100 + dd


@dataclass
class Enterprises:
    n: int
    names: np.ndarray
    uscc: np.ndarray
    industry: np.ndarray
    size: np.ndarray
    city: np.ndarray
    branch: np.ndarray
    onboard: np.ndarray
    legal_rep: np.ndarray  # customer index or -1
    payday: np.ndarray  # day of month
    headcount: np.ndarray  # employees paid through the bank


def enterprise_count(n_customers: int) -> int:
    return max(20, n_customers // 60)


def merchant_count(n_customers: int) -> int:
    return max(30, n_customers // 40)


def make_enterprises(rng: np.random.Generator, cu: Customers, br: Branches, window_start: int,
                     first: int | None = None) -> Enterprises:
    """``first``: global number of the first enterprise of a shard (names then always carry the number)."""
    n = enterprise_count(cu.n)
    weight = rng.pareto(1.1, n) + 0.2
    employed = EMPLOYED[cu.occupation] & (cu.age < 63)
    payroll = employed & (rng.random(cu.n) < 0.55)
    idx = np.flatnonzero(payroll)
    cu.employer[idx] = rng.choice(n, len(idx), p=weight / weight.sum())
    head = np.bincount(cu.employer[idx], minlength=n)
    total = head * rng.uniform(2, 6, n)
    size = np.select([total < 10, total < 100, total < 1000], ["micro", "small", "medium"], "large")
    branch = br.subs[rng.integers(0, len(br.subs), n)]
    city = br.city[branch]
    owners = np.flatnonzero(cu.occupation == 11)
    legal = np.where(rng.random(n) < 0.4, rng.choice(owners, n) if len(owners) else -1, -1)
    onboard = np.maximum(window_start - rng.integers(30, 12 * 365, n), br.opened[branch])
    names = np.char.add(np.char.add(np.array(["湖南"] * n), rng.choice(V.ENT_WORDS, n)),
                        np.char.add(rng.choice(V.ENT_WORDS, n), rng.choice(V.ENT_SUFFIX, n)))
    if n > 2000 or first is not None:
        names = np.char.add(names, np.array([f"({i + 1 + (first or 0)})" for i in range(n)]))
    else:
        names = _dedupe(names)
    area6 = V.CITY_AREA[city].astype(np.int64) * 100 + 2
    return Enterprises(n, names, V.usccs(rng, area6), rng.choice(len(V.INDUSTRIES), n, p=V.INDUSTRY_P), size,
                       city, branch, onboard, legal, rng.choice(np.array([5, 10, 15, 20, 25, 28]), n), head)


def _dedupe(names: np.ndarray) -> np.ndarray:
    seen: dict[str, int] = {}
    out = []
    for s in names.tolist():
        k = seen.get(s, 0)
        seen[s] = k + 1
        out.append(s if k == 0 else f"{s}({k + 1})")
    return np.array(out)


@dataclass
class Merchants:
    n: int
    names: np.ndarray
    mcc: np.ndarray  # index into V.MCCS
    owner: np.ndarray  # customer index or -1
    enterprise: np.ndarray  # enterprise index or -1
    branch: np.ndarray
    terminals: np.ndarray
    onboard: np.ndarray
    base_count: np.ndarray  # mean daily payments
    ticket: np.ndarray  # mean ticket, yuan
    refund_rate: np.ndarray
    frailty: np.ndarray


def make_merchants(rng: np.random.Generator, cu: Customers, en: Enterprises, window_start: int,
                   end_day: int, first: int = 0) -> Merchants:
    n = merchant_count(cu.n)
    mcc = rng.choice(len(V.MCCS), n, p=V.MCC_P)
    individual = rng.random(n) < 0.65
    self_emp = np.flatnonzero(cu.occupation == 2)
    pool = self_emp if len(self_emp) else np.arange(cu.n)
    owner = np.where(individual, rng.choice(pool, n), -1)
    retail_ent = np.flatnonzero(np.isin(en.industry, [1, 4]))
    ent_pool = retail_ent if len(retail_ent) else np.arange(en.n)
    ent = np.where(individual, -1, rng.choice(ent_pool, n))
    branch = np.where(individual, cu.branch[np.maximum(owner, 0)], en.branch[np.maximum(ent, 0)])
    terminals = np.where(individual, 1 + rng.poisson(0.5, n), 2 + rng.poisson(4, n))
    onboard = window_start - rng.exponential(3 * 365, n).astype(np.int64) - 1
    onboard = np.where(rng.random(n) < 0.08, rng.integers(window_start, end_day - 3, n), onboard)
    if (owner >= 0).any():
        onboard = np.where(owner >= 0, np.maximum(onboard, cu.onboard[np.maximum(owner, 0)]), onboard)
    onboard = np.where(ent >= 0, np.maximum(onboard, en.onboard[np.maximum(ent, 0)]), onboard)  # not before its owner
    base = np.exp(rng.normal(np.log(25), 0.9, n)) * np.where(individual, 1.0, 3.0)
    names = np.char.add(np.char.add(rng.choice(V.MERCHANT_WORDS, n), V.MCC_NAMES[mcc]),
                        np.array([f"{i + 1 + first:05d}店" for i in range(n)]))
    return Merchants(n, names, mcc, owner, ent, branch, np.minimum(terminals, 10000), onboard.astype(np.int64),
                     base, V.MCC_TICKET[mcc] * np.exp(rng.normal(0, 0.3, n)), rng.beta(1, 60, n),
                     rng.normal(0, 0.5, n) - np.log1p(terminals) * 0.3)
