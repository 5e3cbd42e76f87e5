"""The files of a batch: discovery, header checks, encodings and the C3 guard — before the engine reads them.

Everything here either returns a :class:`SourceFile` ready for the warehouse engine to read, or raises one
:class:`~kequn.errors.LoadError` that lists every problem of the folder at once (``details``).

Encodings: UTF-8 (with or without BOM) is read as is. Anything that is not valid UTF-8 is tried as
GB18030 (a superset of GBK and GB2312, which Chinese core-banking exports often use) and transcoded, in
chunks, to a temporary UTF-8 file — the engine never sees GBK. A file that is neither fails with the byte
offset of the first undecodable byte.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

from kequn.domain.datamodel import TABLES_BY_NAME, Table
from kequn.errors import LoadError

FORMATS = ("csv", "parquet")
#: notes that may sit beside the data (a README of the export); anything else unknown is an error
IGNORED_SUFFIXES = (".md", ".json")  # READMEs and manifests (kequn synth writes manifest.json)
CHUNK = 1 << 20
BOM = codecs.BOM_UTF8

#: column-name tokens that mean authentication data (C3, JR/T 0171-2020): never allowed into Kequn
_C3_TOKENS = frozenset({
    "password", "passwd", "pwd", "pass", "passcode", "pin", "pinblock", "cvv", "cvv2", "cvn", "cvn2",
    "cvc", "cvc2", "otp", "smscode", "secret", "track1", "track2", "magstripe", "credential",
    "credentials", "token",
})
_C3_PHRASES = ("password", "passwd", "sms_code", "smscode", "verification_code", "verify_code",
               "auth_code", "security_code", "track_data", "card_verification", "密码", "口令", "验证码",
               "校验码", "磁道", "安全码")


@dataclass(frozen=True)
class SourceFile:
    """One canonical file of a batch, ready for the engine: ``path`` is UTF-8 (transcoded if needed)."""

    table: Table
    original: Path
    path: Path
    fmt: str
    encoding: str  # "utf-8", "utf-8-sig", "gb18030" or "parquet"
    content_hash: str
    columns: tuple[str, ...]
    has_bom: bool = False


def looks_like_c3(column: str) -> bool:
    """True when a column name looks like authentication data (password, PIN, CVV/CVN, SMS code …)."""
    low = column.strip().lower()
    if any(p in low for p in _C3_PHRASES):
        return True
    tokens = [t for t in re.split(r"[^0-9a-z]+", low) if t]
    return any(t in _C3_TOKENS for t in tokens)


def discover(directory: Path, fmt: str | None) -> list[tuple[Table, Path, str]]:
    """The canonical files in ``directory`` as (table, path, format); raises ``LoadError`` on any problem."""
    if fmt is not None and fmt not in FORMATS:
        raise LoadError(f"unsupported format {fmt!r}; use one of: {', '.join(FORMATS)}")
    if not directory.exists():
        raise LoadError(f"folder not found: {directory}")
    if not directory.is_dir():
        raise LoadError(f"not a folder: {directory} (kequn load takes a folder of <table>.csv/.parquet files)")
    found: list[tuple[Table, Path, str]] = []
    problems: list[dict[str, str]] = []
    seen: dict[str, Path] = {}
    for p in sorted(directory.iterdir()):
        if p.name.startswith(".") or p.is_dir() or p.suffix.lower() in IGNORED_SUFFIXES:
            continue
        ext = p.suffix.lower().lstrip(".")
        if ext not in FORMATS:
            problems.append({"file": p.name, "message": f"unsupported format .{ext or '(none)'}; "
                             f"use <table>.csv or <table>.parquet"})
            continue
        if fmt is not None and ext != fmt:
            continue
        name = p.stem
        if name not in TABLES_BY_NAME:
            problems.append({"file": p.name, "message": f"unknown table {name!r}; known tables: "
                             f"{', '.join(TABLES_BY_NAME)}"})
            continue
        if name in seen:
            problems.append({"file": p.name, "message": f"table {name!r} also given by {seen[name].name}"})
            continue
        seen[name] = p
        found.append((TABLES_BY_NAME[name], p, ext))
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise LoadError(f"{directory}: {first['file']}: {first['message']}{more}", details=problems)
    if not found:
        wanted = f"*.{fmt}" if fmt else "*.csv or *.parquet"
        raise LoadError(f"no canonical files ({wanted}) in {directory}; expected files named <table>.csv, "
                        f"e.g. customer.csv")
    return found


def check_columns(table: Table, file_name: str, columns: list[str]) -> list[dict[str, str]]:
    """Problems with a file's header: C3 columns, missing required/any columns, extra and duplicate ones."""
    problems: list[dict[str, str]] = []
    c3 = [c for c in columns if looks_like_c3(c)]
    if c3:
        problems.append({"file": file_name, "column": ", ".join(c3), "message":
                         "column looks like authentication data (C3: password/PIN/CVV/SMS code); "
                         "C3 data never enters Kequn (COMPLIANCE rule 2) — drop it from the export"})
    dups = sorted({c for c in columns if columns.count(c) > 1})
    if dups:
        problems.append({"file": file_name, "column": ", ".join(dups), "message": "duplicate column"})
    missing = [c for c in table.column_names if c not in columns]
    if missing:
        problems.append({"file": file_name, "column": ", ".join(missing),
                         "message": f"missing column(s) of table {table.name}"})
    extra = [c for c in columns if c not in table.column_names and c not in c3]
    if extra:
        problems.append({"file": file_name, "column": ", ".join(extra), "message":
                         f"extra column(s) not in table {table.name} (expected: "
                         f"{', '.join(table.column_names)})"})
    return problems


def prepare(table: Table, path: Path, fmt: str, tmpdir: Path) -> SourceFile:
    """Hash, decode-check and (if needed) transcode one file; read its header. Raises ``LoadError``."""
    if not path.is_file():
        raise LoadError(f"file not found: {path}")
    if path.stat().st_size == 0:
        raise LoadError(f"empty file: {path.name} (0 bytes; a canonical file needs at least a header row)")
    if fmt == "parquet":
        return _prepare_parquet(table, path)
    encoding, digest = _sniff_encoding(path)
    target, has_bom = path, encoding == "utf-8-sig"
    if encoding == "gb18030":
        target = tmpdir / f"{table.name}.utf8.csv"
        _transcode(path, target, "gb18030")
        has_bom = False
    header = _read_header(target, has_bom)
    if not header:
        raise LoadError(f"empty file: {path.name} (no header row)")
    return SourceFile(table, path, target, fmt, encoding, digest, tuple(header), has_bom)


def _prepare_parquet(table: Table, path: Path) -> SourceFile:
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
    except Exception as exc:  # noqa: BLE001 - any reader failure means "not a readable Parquet file"
        raise LoadError(f"{path.name}: not a readable Parquet file ({exc})") from None
    return SourceFile(table, path, path, "parquet", "parquet", _hash_file(path), tuple(names))


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK * 8):
            h.update(chunk)
    return h.hexdigest()


def _sniff_encoding(path: Path) -> tuple[str, str]:
    """("utf-8" | "utf-8-sig" | "gb18030", sha256) in one streaming pass (a second only for GB18030).

    A file that starts as clear UTF-8 (a BOM, or ≥ 8 multi-byte characters before the first bad byte)
    and then breaks is refused rather than re-read as GB18030, which would turn it into mojibake."""
    h = hashlib.sha256()
    dec = codecs.getincrementaldecoder("utf-8")()
    offset, bad_at, evidence, has_bom = 0, None, 0, False
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            if bad_at is None:
                skip = 3 if offset == 0 and chunk.startswith(BOM) else 0
                has_bom = has_bom or bool(skip)
                try:
                    dec.decode(chunk[skip:])
                    good = chunk
                except UnicodeDecodeError as exc:
                    bad_at = offset + skip + exc.start
                    good = chunk[: skip + exc.start]
                if evidence < _UTF8_EVIDENCE:
                    evidence += len(good) - len(good.translate(None, _HIGH_BYTES))
            offset += len(chunk)
    if bad_at is None:
        try:
            dec.decode(b"", final=True)
        except UnicodeDecodeError:
            bad_at = offset
    if bad_at is None:
        return ("utf-8-sig" if has_bom else "utf-8"), h.hexdigest()
    if has_bom or evidence >= _UTF8_EVIDENCE:
        raise LoadError(f"{path.name}: undecodable encoding — the file is UTF-8 but has an invalid byte "
                        f"sequence at offset {bad_at}; fix or re-export it")
    gb_bad = _first_bad_byte(path, "gb18030")
    if gb_bad is None:
        return "gb18030", h.hexdigest()
    raise LoadError(f"{path.name}: undecodable encoding — not UTF-8 (bad byte at offset {bad_at}) and not "
                    f"GBK/GB18030 (bad byte at offset {gb_bad}); re-export as UTF-8 or GBK")


_HIGH_BYTES = bytes(range(0x80, 0x100))
#: non-ASCII bytes of valid UTF-8 (≈ 8 Chinese characters) that prove a file is meant as UTF-8
_UTF8_EVIDENCE = 24


def _first_bad_byte(path: Path, encoding: str) -> int | None:
    dec = codecs.getincrementaldecoder(encoding)()
    offset = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            try:
                dec.decode(chunk)
            except UnicodeDecodeError as exc:
                return offset + exc.start
            offset += len(chunk)
    try:
        dec.decode(b"", final=True)
    except UnicodeDecodeError:
        return offset
    return None


def _transcode(src: Path, dst: Path, encoding: str) -> None:
    """Stream ``src`` (in ``encoding``) into ``dst`` as UTF-8, chunk by chunk."""
    dec = codecs.getincrementaldecoder(encoding)()
    with src.open("rb") as fin, dst.open("wb") as fout:
        while chunk := fin.read(CHUNK):
            fout.write(dec.decode(chunk).encode("utf-8"))
        fout.write(dec.decode(b"", final=True).encode("utf-8"))


def _read_header(path: Path, has_bom: bool) -> list[str]:
    with path.open("rb") as f:
        raw = f.read(1 << 16)
    if has_bom:
        raw = raw[3:]
    text = raw.decode("utf-8", errors="replace")
    first = text.splitlines()[0] if text.strip() else ""
    row = next(csv.reader(io.StringIO(first)), [])
    return [c.strip() for c in row]


def iter_utf8_bytes(src: SourceFile):  # noqa: ANN201 - generator of bytes
    """The file's bytes as UTF-8 without BOM, in chunks (for PostgreSQL ``COPY``)."""
    with src.path.open("rb") as f:
        first = True
        while chunk := f.read(CHUNK):
            if first and src.has_bom and chunk.startswith(BOM):
                chunk = chunk[3:]
            first = False
            yield chunk
