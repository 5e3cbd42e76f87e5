"""The segment rule language (客群规则): a small, safe expression language over tags.

Example::

    payroll and aum_band >= 3 and churn_risk < 0.2 and employer.industry == "制造业"

A hand-written tokenizer and recursive-descent parser turn the text into a tree of frozen dataclasses;
nothing is ever handed to Python's ``eval`` or ``ast``. Every token and node remembers its character
position (0-based), so each error is a :class:`~kequn.errors.SegmentError` that points at the exact spot.

Grammar (keywords are case-insensitive)::

    rule       := or_expr EOF
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | condition
    condition  := "(" or_expr ")"
                | operand [ cmp_op operand
                          | ["not"] "in" "[" literal ("," literal)* "]"
                          | "contains" literal
                          | "is" ["not"] "null" ]
    cmp_op     := "==" | "!=" | "<" | "<=" | ">" | ">="
    operand    := ref | literal
    ref        := NAME ("." NAME)?            # employer.industry: a tag of a related entity
    literal    := STRING | ["-"] NUMBER | "true" | "false"
    STRING     := '"' … '"' | "'" … "'"       # backslash escapes \\ \" \' \n \t
    NUMBER     := digits ["." digits]
    NAME       := [A-Za-z_][A-Za-z0-9_]*
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal as TypingLiteral

from kequn.errors import SegmentError

MAX_RULE_LENGTH = 10_000
MAX_DEPTH = 64

KEYWORDS = frozenset({"and", "or", "not", "in", "is", "null", "true", "false", "contains"})
CMP_OPS = ("==", "!=", "<=", ">=", "<", ">")

TokenKind = TypingLiteral["name", "string", "number", "op", "kw", "eof"]


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str
    pos: int
    value: object = None


# ----------------------------------------------------------------------------------------- tree
@dataclass(frozen=True)
class Ref:
    """A tag of the segment's entity (``relation`` is None) or of a related entity (``employer.industry``)."""

    name: str
    pos: int
    relation: str | None = None
    name_pos: int = -1  # position of the tag name after the dot (related entities)

    @property
    def dotted(self) -> str:
        return f"{self.relation}.{self.name}" if self.relation else self.name


@dataclass(frozen=True)
class Lit:
    value: bool | str | Decimal
    pos: int


@dataclass(frozen=True)
class Compare:
    op: str
    left: Ref | Lit
    right: Ref | Lit
    pos: int


@dataclass(frozen=True)
class InList:
    ref: Ref | Lit
    values: tuple[Lit, ...]
    negated: bool
    pos: int


@dataclass(frozen=True)
class Contains:
    ref: Ref | Lit
    value: Lit
    pos: int


@dataclass(frozen=True)
class IsNull:
    ref: Ref | Lit
    negated: bool
    pos: int


@dataclass(frozen=True)
class Truthy:
    """A bare operand used as a condition (valid only for a flag tag)."""

    operand: Ref | Lit
    pos: int


@dataclass(frozen=True)
class Not:
    operand: Node
    pos: int


@dataclass(frozen=True)
class BoolOp:
    op: TypingLiteral["and", "or"]
    operands: tuple[Node, ...]
    pos: int


Node = Compare | InList | Contains | IsNull | Truthy | Not | BoolOp


# ----------------------------------------------------------------------------------------- tokenizer
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t"}


def _is_name_start(ch: str) -> bool:
    return ch == "_" or ("a" <= ch <= "z") or ("A" <= ch <= "Z")


def _is_name_char(ch: str) -> bool:
    return _is_name_start(ch) or ("0" <= ch <= "9")


def _read_string(text: str, start: int) -> Token:
    quote, i = text[start], start + 1
    out: list[str] = []
    while i < len(text):
        ch = text[i]
        if ch == quote:
            return Token("string", text[start:i + 1], start, "".join(out))
        if ch == "\\":
            if i + 1 >= len(text) or text[i + 1] not in _ESCAPES:
                raise SegmentError("unknown escape in string (use \\\\, \\\", \\', \\n or \\t)", position=i)
            out.append(_ESCAPES[text[i + 1]])
            i += 2
            continue
        out.append(ch)
        i += 1
    raise SegmentError("string is not closed: add the closing quote", position=start)


def _read_number(text: str, start: int) -> Token:
    i = start
    while i < len(text) and text[i].isascii() and text[i].isdigit():
        i += 1
    if i < len(text) and text[i] == ".":
        j = i + 1
        while j < len(text) and text[j].isascii() and text[j].isdigit():
            j += 1
        if j == i + 1:
            raise SegmentError("a number needs digits after the decimal point", position=i)
        i = j
    if i < len(text) and _is_name_char(text[i]):
        raise SegmentError(f"bad number {text[start:i + 1]!r}: a name cannot start with a digit", position=start)
    if sum(c.isdigit() for c in text[start:i]) > 18:
        raise SegmentError("number has more than 18 digits", position=start)
    return Token("number", text[start:i], start, Decimal(text[start:i]))


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text`` followed by an ``eof`` token; ``SegmentError`` on a character out of place."""
    if not isinstance(text, str):
        raise SegmentError("a rule must be text", position=0)
    if len(text) > MAX_RULE_LENGTH:
        raise SegmentError(f"rule is longer than {MAX_RULE_LENGTH} characters", position=MAX_RULE_LENGTH)
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in " \t\r\n\u3000":
            i += 1
        elif ch in "\"'":
            tok = _read_string(text, i)
            tokens.append(tok)
            i += len(tok.text)
        elif ch.isascii() and ch.isdigit():
            tok = _read_number(text, i)
            tokens.append(tok)
            i += len(tok.text)
        elif _is_name_start(ch):
            j = i
            while j < len(text) and _is_name_char(text[j]):
                j += 1
            word = text[i:j]
            kind: TokenKind = "kw" if word.lower() in KEYWORDS else "name"
            tokens.append(Token(kind, word.lower() if kind == "kw" else word, i))
            i = j
        elif text.startswith(("==", "!=", "<=", ">="), i):
            tokens.append(Token("op", text[i:i + 2], i))
            i += 2
        elif ch in "<>()[],.-":
            tokens.append(Token("op", ch, i))
            i += 1
        elif ch == "=":
            raise SegmentError("use == to compare (a single = is not an operator)", position=i)
        else:
            raise SegmentError(f"unexpected character {ch!r}", position=i)
    tokens.append(Token("eof", "", len(text)))
    return tokens


# ----------------------------------------------------------------------------------------- parser
class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def _next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def _at(self, kind: str, text: str | None = None) -> bool:
        return self.tok.kind == kind and (text is None or self.tok.text == text)

    def _expect(self, kind: str, text: str, what: str) -> Token:
        if not self._at(kind, text):
            raise SegmentError(f"expected {what}, found {_describe(self.tok)}", position=self.tok.pos)
        return self._next()

    def rule(self) -> Node:
        if self._at("eof"):
            raise SegmentError("the rule is empty", position=0)
        node = self.or_expr()
        if not self._at("eof"):
            raise SegmentError(f"unexpected {_describe(self.tok)}: expected and, or or the end of the rule",
                               position=self.tok.pos)
        return node

    def _nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise SegmentError(f"rule is nested more than {MAX_DEPTH} levels deep", position=self.tok.pos)

    def or_expr(self) -> Node:
        self._nested()
        first = self.and_expr()
        parts = [first]
        while self._at("kw", "or"):
            self._next()
            parts.append(self.and_expr())
        self.depth -= 1
        return first if len(parts) == 1 else BoolOp("or", tuple(parts), _pos(first))

    def and_expr(self) -> Node:
        first = self.not_expr()
        parts = [first]
        while self._at("kw", "and"):
            self._next()
            parts.append(self.not_expr())
        return first if len(parts) == 1 else BoolOp("and", tuple(parts), _pos(first))

    def not_expr(self) -> Node:
        if self._at("kw", "not"):
            tok = self._next()
            self._nested()
            inner = self.not_expr()
            self.depth -= 1
            return Not(inner, tok.pos)
        return self.condition()

    def condition(self) -> Node:
        if self._at("op", "("):
            self._next()
            node = self.or_expr()
            self._expect("op", ")", "a closing parenthesis )")
            return node
        left = self.operand()
        tok = self.tok
        if tok.kind == "op" and tok.text in CMP_OPS:
            self._next()
            return Compare(tok.text, left, self.operand(), tok.pos)
        if self._at("kw", "in") or (self._at("kw", "not") and self.tokens[self.i + 1].text == "in"):
            negated = self._next().text == "not"
            if negated:
                self._next()
            return InList(left, self.literal_list(), negated, tok.pos)
        if self._at("kw", "contains"):
            self._next()
            return Contains(left, self.literal(), tok.pos)
        if self._at("kw", "is"):
            self._next()
            negated = self._at("kw", "not")
            if negated:
                self._next()
            self._expect("kw", "null", "null after 'is' / 'is not'")
            return IsNull(left, negated, tok.pos)
        return Truthy(left, _pos(left))

    def operand(self) -> Ref | Lit:
        if self._at("name"):
            name = self._next()
            if self._at("op", "."):
                self._next()
                if not self._at("name"):
                    raise SegmentError(f"expected a tag name after '{name.text}.', found {_describe(self.tok)}",
                                       position=self.tok.pos)
                attr = self._next()
                if self._at("op", "."):
                    raise SegmentError("only one level of related entity is allowed (e.g. employer.industry)",
                                       position=self.tok.pos)
                return Ref(attr.text, name.pos, relation=name.text, name_pos=attr.pos)
            return Ref(name.text, name.pos)
        return self.literal()

    def literal(self) -> Lit:
        tok = self.tok
        if tok.kind == "string":
            self._next()
            return Lit(str(tok.value), tok.pos)
        if tok.kind == "number":
            self._next()
            return Lit(tok.value, tok.pos)  # type: ignore[arg-type]
        if self._at("op", "-") and self.tokens[self.i + 1].kind == "number":
            self._next()
            num = self._next()
            return Lit(-num.value, tok.pos)  # type: ignore[operator]
        if tok.kind == "kw" and tok.text in ("true", "false"):
            self._next()
            return Lit(tok.text == "true", tok.pos)
        raise SegmentError(f"expected a tag, a number, a string, true or false, found {_describe(tok)}",
                           position=tok.pos)

    def literal_list(self) -> tuple[Lit, ...]:
        self._expect("op", "[", "a list in brackets after 'in', e.g. [\"A\", \"B\"]")
        items = [self.literal()]
        while self._at("op", ","):
            self._next()
            items.append(self.literal())
        self._expect("op", "]", "',' or a closing bracket ]")
        return tuple(items)


def _describe(tok: Token) -> str:
    if tok.kind == "eof":
        return "the end of the rule"
    return f"{tok.kind if tok.kind != 'op' else 'symbol'} {tok.text!r}" if tok.kind != "kw" else f"keyword {tok.text!r}"


def _pos(node: Node | Ref | Lit) -> int:
    return node.pos


def parse(text: str) -> Node:
    """Parse a rule into its tree; ``SegmentError`` with the position of the first problem."""
    return _Parser(text).rule()


def refs(node: Node | Ref | Lit) -> list[Ref]:
    """Every tag reference in the tree, left to right."""
    if isinstance(node, Ref):
        return [node]
    if isinstance(node, Lit):
        return []
    if isinstance(node, Compare):
        return refs(node.left) + refs(node.right)
    if isinstance(node, (InList, Contains, IsNull)):
        return refs(node.ref)
    if isinstance(node, Truthy):
        return refs(node.operand)
    if isinstance(node, Not):
        return refs(node.operand)
    return [r for part in node.operands for r in refs(part)]


def unparse(node: Node | Ref | Lit) -> str:
    """The rule text of a tree (fully parenthesised; ``parse(unparse(t)) == t`` up to positions)."""
    if isinstance(node, Ref):
        return node.dotted
    if isinstance(node, Lit):
        return _lit_text(node.value)
    if isinstance(node, Compare):
        return f"{unparse(node.left)} {node.op} {unparse(node.right)}"
    if isinstance(node, InList):
        items = ", ".join(_lit_text(v.value) for v in node.values)
        return f"{unparse(node.ref)} {'not in' if node.negated else 'in'} [{items}]"
    if isinstance(node, Contains):
        return f"{unparse(node.ref)} contains {_lit_text(node.value.value)}"
    if isinstance(node, IsNull):
        return f"{unparse(node.ref)} is {'not ' if node.negated else ''}null"
    if isinstance(node, Truthy):
        return unparse(node.operand)
    if isinstance(node, Not):
        return f"not ({unparse(node.operand)})"
    return "(" + f" {node.op} ".join(unparse(p) for p in node.operands) + ")"


def _lit_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return str(value)
    s = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{s}"'
