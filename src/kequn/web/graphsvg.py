"""The panorama's relationship drawings (全景图), rendered on the server as inline SVG.

No script and no external file: the SVG is part of the page (CSP ``script-src 'self'`` untouched), so the
graph shows without JavaScript, prints, and tests can count its nodes and edges. Every node is a
``<g class="node" data-kind=… data-id=…>`` and every edge a ``<line class="edge" data-from=… data-to=…>``.
Text is escaped here; callers pass only masked personal data (names through
:func:`kequn.security.masking.mask_name`). Words (legend, captions) stay in the template (``i18n.yaml``).

Two layouts:

- :func:`star` — B→C: the enterprise in the centre, its employees on rings around it, coloured by how many
  product categories they hold, outlined red when active in the app, sized by AUM tier; at most
  ``limit`` employees are drawn, the rest become one "+M" node;
- :func:`chain` — G→B→C: programme(s) → member enterprises → one employees node per enterprise (sized by
  the number on payroll), in three columns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from markupsafe import Markup

#: most employees drawn around one enterprise; the rest are summed into a "+M" node (the table lists more)
MAX_EMPLOYEE_NODES = 60
#: most member enterprises drawn per programme in the chain view
MAX_CHAIN_ENTERPRISES = 12

#: fill by number of product categories held (0, 1, 2, 3, 4+)
PRODUCT_FILLS = ("#e8edf3", "#c6d4e3", "#8fb0cf", "#4f7fae", "#1d4f80")
APP_STROKE, IDLE_STROKE = "#b01f24", "#7a8694"
#: node radius by AUM tier (customer tag ``aum_tier``); unknown tier → the smallest
TIER_RADIUS = {"mass": 6, "gold": 8, "wealth": 11, "private": 14}
UNKNOWN_RADIUS = 5
ENTERPRISE_FILL, PROGRAMME_FILL, MORE_FILL = "#1d2733", "#b01f24", "#ffffff"


@dataclass
class Node:
    id: str
    kind: str  # enterprise | employee | programme | employees | more
    x: float
    y: float
    r: float
    fill: str
    stroke: str = IDLE_STROKE
    stroke_width: float = 1.0
    label: str = ""
    title: str = ""
    href: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Drawing:
    nodes: list[Node]
    edges: list[tuple[str, str]]
    width: int
    height: int

    def count(self, kind: str) -> int:
        return sum(1 for n in self.nodes if n.kind == kind)


def product_fill(products: int | None) -> str:
    return PRODUCT_FILLS[min(max(int(products or 0), 0), len(PRODUCT_FILLS) - 1)]


def tier_radius(tier: str | None) -> int:
    return TIER_RADIUS.get(str(tier), UNKNOWN_RADIUS) if tier else UNKNOWN_RADIUS


def _rings(n: int, first: float = 95.0, gap: float = 42.0, spacing: float = 34.0) -> list[tuple[float, float]]:
    """Positions (x, y) relative to the centre for ``n`` nodes on concentric rings, inner rings first."""
    out: list[tuple[float, float]] = []
    radius = first
    while len(out) < n:
        cap = max(6, int(2 * math.pi * radius // spacing))
        k = min(cap, n - len(out))
        offset = (len(out) % 2) * math.pi / max(k, 1)  # stagger successive rings
        out += [(radius * math.cos(offset + 2 * math.pi * i / k - math.pi / 2),
                 radius * math.sin(offset + 2 * math.pi * i / k - math.pi / 2)) for i in range(k)]
        radius += gap
    return out


def star(enterprise: dict[str, Any], employees: Sequence[dict[str, Any]], more: int = 0,
         employee_href: str | None = None) -> Drawing:
    """B→C: ``enterprise`` (enterprise_id, name) in the centre; ``employees`` (customer_id, name — masked,
    products, app_active, aum_tier) around it; ``more`` employees not drawn become one "+M" node."""
    spots = _rings(len(employees) + (1 if more else 0))
    reach = max(max((math.hypot(x, y) for x, y in spots), default=60.0) + 40, 180.0)  # not tiny when few
    width = height = int(2 * reach)
    cx = cy = reach
    eid = str(enterprise["enterprise_id"])
    nodes = [Node(eid, "enterprise", cx, cy, 26, ENTERPRISE_FILL, ENTERPRISE_FILL, 1,
                  label=str(enterprise.get("name") or eid), title=f"{enterprise.get('name') or ''} {eid}".strip())]
    edges: list[tuple[str, str]] = []
    for (dx, dy), e in zip(spots, employees, strict=False):
        cid = str(e["customer_id"])
        app = bool(e.get("app_active"))
        title = f"{cid} {e.get('name') or ''} · {int(e.get('products') or 0)} · {e.get('aum_tier') or '-'}"
        nodes.append(Node(cid, "employee", cx + dx, cy + dy, tier_radius(e.get("aum_tier")),
                          product_fill(e.get("products")), APP_STROKE if app else IDLE_STROKE, 2.5 if app else 1,
                          label=str(e.get("name") or ""), title=title,
                          href=f"{employee_href}{cid}" if employee_href else None,
                          data={"products": int(e.get("products") or 0), "app": int(app),
                                "tier": e.get("aum_tier") or ""}))
        edges.append((eid, cid))
    if more:
        dx, dy = spots[-1]
        nodes.append(Node(f"+{more}", "more", cx + dx, cy + dy, 14, MORE_FILL, IDLE_STROKE, 1, label=f"+{more}",
                          title=f"+{more}", data={"count": more}))
        edges.append((eid, f"+{more}"))
    return Drawing(nodes, edges, width, height)


def chain(programmes: Sequence[dict[str, Any]], members: Sequence[dict[str, Any]], focus: str | None = None,
          limit: int = MAX_CHAIN_ENTERPRISES, enterprise_href: str | None = None) -> Drawing:
    """G→B→C: ``programmes`` (programme_id, programme_name) → ``members`` (programme_id, enterprise_id,
    enterprise_name, employees) → one employees node per enterprise. At most ``limit`` enterprises per
    programme (most employees first, ``focus`` always kept); the rest become one "+M" node."""
    rows: list[tuple[str, list[dict[str, Any]], int]] = []
    for p in programmes:
        pid = str(p["programme_id"])
        mine = sorted((m for m in members if str(m["programme_id"]) == pid),
                      key=lambda m: (str(m["enterprise_id"]) != focus, -int(m.get("employees") or 0),
                                     str(m["enterprise_id"])))
        rows.append((pid, mine[:limit], max(0, len(mine) - limit)))
    step = 52
    height = max(120, step * sum(max(1, len(shown) + (1 if more else 0)) for _, shown, more in rows) + 40)
    width = 760
    biggest = max((int(m.get("employees") or 0) for _, shown, _m in rows for m in shown), default=1) or 1
    nodes: list[Node] = []
    edges: list[tuple[str, str]] = []
    y = 40.0
    names = {str(p["programme_id"]): str(p.get("programme_name") or p["programme_id"]) for p in programmes}
    for pid, shown, more in rows:
        span = max(1, len(shown) + (1 if more else 0))
        pnode = f"G:{pid}"
        nodes.append(Node(pnode, "programme", 110, y + step * (span - 1) / 2, 20, PROGRAMME_FILL, PROGRAMME_FILL,
                          label=names[pid], title=f"{names[pid]} {pid}", data={"programme": pid}))
        for i, m in enumerate(shown):
            eid, n = str(m["enterprise_id"]), int(m.get("employees") or 0)
            ey = y + step * i
            enode, cnode = f"B:{pid}:{eid}", f"C:{pid}:{eid}"
            nodes.append(Node(enode, "enterprise", 380, ey, 14, ENTERPRISE_FILL,
                              APP_STROKE if eid == focus else ENTERPRISE_FILL, 3 if eid == focus else 1,
                              label=str(m.get("enterprise_name") or eid), title=f"{m.get('enterprise_name') or ''} {eid}",
                              href=f"{enterprise_href}{eid}" if enterprise_href else None,
                              data={"enterprise": eid}))
            nodes.append(Node(cnode, "employees", 640, ey, 5 + 13 * math.sqrt(n / biggest), PRODUCT_FILLS[3],
                              PRODUCT_FILLS[4], label=str(n), title=f"{eid}: {n}", data={"count": n}))
            edges += [(pnode, enode), (enode, cnode)]
        if more:
            mnode = f"M:{pid}"
            nodes.append(Node(mnode, "more", 380, y + step * len(shown), 12, MORE_FILL, IDLE_STROKE,
                              label=f"+{more}", title=f"+{more}", data={"count": more}))
            edges.append((pnode, mnode))
        y += step * span
    return Drawing(nodes, edges, width, int(height))


def _attrs(**kw: Any) -> str:
    return " ".join(f'{k.rstrip("_").replace("_", "-")}="{escape(str(v), quote=True)}"' for k, v in kw.items()
                    if v is not None)


def render(d: Drawing, element_id: str, label: str = "") -> Markup:
    """The drawing as one ``<svg>`` element (edges under nodes; labels under employee nodes)."""
    pos = {n.id: n for n in d.nodes}
    out = [f'<svg {_attrs(id=element_id, class_="graph", viewBox=f"0 0 {d.width} {d.height}", width=d.width)}'
           f' role="img" {_attrs(aria_label=label)} xmlns="http://www.w3.org/2000/svg">']
    out.append('<g class="edges">')
    for a, b in d.edges:
        na, nb = pos[a], pos[b]
        out.append(f'<line {_attrs(class_="edge", data_from=a, data_to=b, x1=f"{na.x:.1f}", y1=f"{na.y:.1f}")} '
                   f'{_attrs(x2=f"{nb.x:.1f}", y2=f"{nb.y:.1f}", stroke="#b7c2cf", stroke_width=1)}/>')
    out.append("</g>")
    for n in d.nodes:
        data = " ".join(_attrs(**{f"data_{k}": v}) for k, v in n.data.items())
        shape = (f'<circle {_attrs(cx=f"{n.x:.1f}", cy=f"{n.y:.1f}", r=f"{n.r:.1f}", fill=n.fill, stroke=n.stroke)}'
                 f' {_attrs(stroke_width=n.stroke_width)}><title>{escape(n.title)}</title></circle>')
        below = n.kind == "employee"
        above = n.id.startswith("B:")
        if above:
            text = (f'<text {_attrs(x=f"{n.x:.1f}", y=f"{n.y - n.r - 5:.1f}", text_anchor="middle", font_size=11)}>'
                    f"{escape(n.label)}</text>")
        elif n.id.startswith("G:"):
            text = (f'<text {_attrs(x=f"{n.x:.1f}", y=f"{n.y + n.r + 14:.1f}", text_anchor="middle", font_size=11)}>'
                    f"{escape(n.label)}</text>")
        elif below:
            text = (f'<text {_attrs(x=f"{n.x:.1f}", y=f"{n.y + n.r + 9:.1f}", text_anchor="middle", font_size=8)}>'
                    f"{escape(n.label)}</text>")
        elif n.kind == "employees":
            text = (f'<text {_attrs(x=f"{n.x + n.r + 6:.1f}", y=f"{n.y + 4:.1f}", font_size=11)}>'
                    f"{escape(n.label)}</text>")
        else:
            fill = "#ffffff" if n.kind == "enterprise" else "#1d2733"
            text = (f'<text {_attrs(x=f"{n.x:.1f}", y=f"{n.y + 4:.1f}", text_anchor="middle", font_size=10, fill=fill)}>'
                    f"{escape(n.label[:8])}</text>")
        inner = shape + text
        if n.href:
            inner = f'<a {_attrs(href=n.href)}>{inner}</a>'
        out.append(f'<g {_attrs(class_="node", data_kind=n.kind, data_id=n.id)} {data}>{inner}</g>')
    out.append("</svg>")
    return Markup("".join(out))
