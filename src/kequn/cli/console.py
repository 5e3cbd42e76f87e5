"""The one object every command writes through, so ``--json`` is free and tests can capture output.

Human mode prints rich tables and lines to stdout; JSON mode prints exactly one JSON document to stdout
(``result``) and sends progress lines to stderr.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _default(o: Any) -> Any:
    if isinstance(o, decimal.Decimal):
        return str(o)
    if isinstance(o, (dt.date, dt.datetime)):
        return o.isoformat()
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "model_dump"):
        return o.model_dump(mode="json")
    if hasattr(o, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(o)
    if hasattr(o, "item"):  # numpy scalars
        return o.item()
    return str(o)


def to_json(obj: Any) -> str:
    return json.dumps(obj, default=_default, ensure_ascii=False, indent=2)


@dataclass
class Console:
    json_mode: bool = False
    debug: bool = False
    out: Any = field(default_factory=lambda: sys.stdout)
    err: Any = field(default_factory=lambda: sys.stderr)

    def info(self, message: str) -> None:
        """A progress or status line: stdout for people, stderr in JSON mode."""
        print(message, file=self.err if self.json_mode else self.out, flush=True)

    def error(self, message: str) -> None:
        if self.err.isatty() if hasattr(self.err, "isatty") else False:
            message = f"\x1b[31m{message}\x1b[0m"
        print(message, file=self.err, flush=True)

    def result(self, obj: Any, *, human: str | None = None) -> None:
        """The command's result: JSON in JSON mode, else ``human`` (or a readable rendering of ``obj``)."""
        if self.json_mode:
            print(to_json(obj), file=self.out, flush=True)
        elif human is not None:
            print(human, file=self.out, flush=True)
        elif isinstance(obj, Mapping):
            for k, v in obj.items():
                print(f"{k}: {v}", file=self.out)
        else:
            print(obj, file=self.out, flush=True)

    def table(
        self,
        rows: Sequence[Mapping[str, Any]],
        columns: Iterable[str] | None = None,
        *,
        title: str | None = None,
        json_obj: Any = None,
    ) -> None:
        """Rows as a table for people; as a JSON list (or ``json_obj``) in JSON mode."""
        if self.json_mode:
            print(to_json(json_obj if json_obj is not None else list(rows)), file=self.out, flush=True)
            return
        from rich.console import Console as RichConsole
        from rich.table import Table

        cols = list(columns) if columns is not None else (list(rows[0].keys()) if rows else [])
        t = Table(title=title, show_lines=False)
        for c in cols:
            t.add_column(c)
        for r in rows:
            t.add_row(*("" if r.get(c) is None else str(r.get(c)) for c in cols))
        RichConsole(file=self.out, width=200, soft_wrap=True).print(t)


def console(ctx: Any) -> Console:
    """The console of the current invocation (commands call this with their ``typer.Context``)."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Console) else Console()
