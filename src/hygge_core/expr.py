"""hygge's small expression language, compiled to `pyarrow.compute` calls on whole batches.

`filter:`, `derive:` and the `expression` check take text such as
`amount * 1.2 > 100 and lower(country) in ('dk', 'se')`. It is tokenised, parsed by
precedence climbing into a tree, and the tree becomes a function of a record batch that
calls one `pyarrow.compute` kernel per node: no `eval`, no Python per row. The grammar,
operators and functions are documented in docs/transforms.md ("Expressions").

A mistake (bad syntax, an unknown column or function, types that do not combine) raises
`ExprError` with the offset in the text, which config resolution turns into file:line.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

Value = Any  # a pyarrow Array, ChunkedArray or Scalar (pyarrow ships no usable stubs)
Compiled = Callable[[pa.RecordBatch], Value]


class ExprError(ValueError):
    """A mistake in an expression: `message`, and `offset` (0-based) into its text."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>\d+\.\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|\d+(?:[eE][-+]?\d+)?)
  | (?P<string>'(?:[^']|'')*')
  | (?P<quoted>"(?:[^"]|"")*"|`[^`]*`)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\|\||==|!=|<>|<=|>=|[-+*/%<>=(),])
    """,
    re.VERBOSE,
)

KEYWORDS = {"and", "or", "not", "in", "is", "null", "true", "false", "between", "like"}


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, name, column, op, keyword, end
    text: str
    offset: int
    value: Any = None


def tokenize(text: str) -> list[Token]:
    """Split `text` into tokens; an unknown character raises `ExprError` at its offset."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            if text[pos] in "'\"`":
                raise ExprError("unterminated quote", pos)
            raise ExprError(f"unexpected character '{text[pos]}'", pos)
        kind = m.lastgroup or ""
        word = m.group()
        if kind == "number":
            is_int = word.isdigit()
            tokens.append(Token("number", word, pos, int(word) if is_int else float(word)))
        elif kind == "string":
            tokens.append(Token("string", word, pos, word[1:-1].replace("''", "'")))
        elif kind == "quoted":
            name = word[1:-1].replace('""', '"') if word[0] == '"' else word[1:-1]
            tokens.append(Token("column", word, pos, name))
        elif kind == "name":
            low = word.lower()
            if low in KEYWORDS:
                tokens.append(Token("keyword", low, pos))
            else:
                tokens.append(Token("name", word, pos, word))
        elif kind == "op":
            tokens.append(Token("op", word, pos))
        pos = m.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


# -- the tree ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """One node of the parsed tree: `op` is 'lit', 'col', 'call', or an operator."""

    op: str
    offset: int
    args: tuple[Node, ...] = ()
    value: Any = None


class _Parser:
    """Precedence climbing over the token list (lowest first: or, and, not, comparison,
    ||, + -, * / %, unary minus)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        t = self.tokens[self.i]
        self.i += 1
        return t

    def accept(self, kind: str, text: str | None = None) -> Token | None:
        t = self.tok
        if t.kind == kind and (text is None or t.text == text):
            self.i += 1
            return t
        return None

    def expect(self, kind: str, text: str, what: str) -> Token:
        t = self.accept(kind, text)
        if t is None:
            found = self.tok.text or "the end"
            raise ExprError(f"expected {what}, found {found!r}", self.tok.offset)
        return t

    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise ExprError("the expression is empty", 0)
        node = self.or_()
        if self.tok.kind != "end":
            raise ExprError(f"unexpected {self.tok.text!r}", self.tok.offset)
        return node

    def or_(self) -> Node:
        node = self.and_()
        while t := self.accept("keyword", "or"):
            node = Node("or", t.offset, (node, self.and_()))
        return node

    def and_(self) -> Node:
        node = self.not_()
        while t := self.accept("keyword", "and"):
            node = Node("and", t.offset, (node, self.not_()))
        return node

    def not_(self) -> Node:
        if t := self.accept("keyword", "not"):
            return Node("not", t.offset, (self.not_(),))
        return self.comparison()

    def comparison(self) -> Node:
        node = self.concat()
        t = self.tok
        if t.kind == "op" and t.text in ("=", "==", "!=", "<>", "<", "<=", ">", ">="):
            self.take()
            op = {"==": "=", "<>": "!="}.get(t.text, t.text)
            return Node(op, t.offset, (node, self.concat()))
        if self.accept("keyword", "is"):
            negate = self.accept("keyword", "not") is not None
            self.expect("keyword", "null", "null after 'is'")
            return Node("is_not_null" if negate else "is_null", t.offset, (node,))
        negate = False
        if t.kind == "keyword" and t.text == "not":
            nxt = self.tokens[self.i + 1]
            if nxt.kind == "keyword" and nxt.text in ("in", "between", "like"):
                self.take()
                negate = True
        if self.accept("keyword", "in"):
            self.expect("op", "(", "'(' after 'in'")
            items = [self.literal()]
            while self.accept("op", ","):
                items.append(self.literal())
            self.expect("op", ")", "')' closing the 'in' list")
            found = Node("in", t.offset, (node,), tuple(items))
            return Node("not", t.offset, (found,)) if negate else found
        if self.accept("keyword", "between"):
            low = self.concat()
            self.expect("keyword", "and", "'and' in 'between ... and ...'")
            high = self.concat()
            found = Node("between", t.offset, (node, low, high))
            return Node("not", t.offset, (found,)) if negate else found
        if self.accept("keyword", "like"):
            pattern = self.literal()
            if not isinstance(pattern, str):
                raise ExprError("'like' needs a quoted pattern", t.offset)
            found = Node("like", t.offset, (node,), pattern)
            return Node("not", t.offset, (found,)) if negate else found
        if negate:
            raise ExprError("expected 'in', 'between' or 'like' after 'not'", t.offset)
        return node

    def literal(self) -> Any:
        t = self.take()
        if t.kind in ("number", "string"):
            return t.value
        if t.kind == "op" and t.text == "-" and self.tok.kind == "number":
            return -self.take().value
        if t.kind == "keyword" and t.text in ("true", "false"):
            return t.text == "true"
        raise ExprError(f"expected a number or a quoted string, found {t.text!r}", t.offset)

    def concat(self) -> Node:
        node = self.additive()
        while t := self.accept("op", "||"):
            node = Node("||", t.offset, (node, self.additive()))
        return node

    def additive(self) -> Node:
        node = self.term()
        while self.tok.kind == "op" and self.tok.text in ("+", "-"):
            t = self.take()
            node = Node(t.text, t.offset, (node, self.term()))
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.tok.kind == "op" and self.tok.text in ("*", "/", "%"):
            t = self.take()
            node = Node(t.text, t.offset, (node, self.unary()))
        return node

    def unary(self) -> Node:
        if t := self.accept("op", "-"):
            return Node("neg", t.offset, (self.unary(),))
        return self.primary()

    def primary(self) -> Node:
        t = self.take()
        if t.kind in ("number", "string"):
            return Node("lit", t.offset, value=t.value)
        if t.kind == "keyword" and t.text in ("true", "false", "null"):
            return Node("lit", t.offset, value=None if t.text == "null" else t.text == "true")
        if t.kind == "column":
            return Node("col", t.offset, value=t.value)
        if t.kind == "name":
            low = t.text.lower()
            if low in ("timestamp", "date", "decimal") and self.tok.kind == "string":
                return Node("lit", t.offset, value=_typed_literal(low, self.take()))
            if self.accept("op", "("):
                args: list[Node] = []
                if not self.accept("op", ")"):
                    args.append(self.or_())
                    while self.accept("op", ","):
                        args.append(self.or_())
                    self.expect("op", ")", "',' or ')' in the call")
                return Node("call", t.offset, tuple(args), low)
            return Node("col", t.offset, value=t.text)
        if t.kind == "op" and t.text == "(":
            node = self.or_()
            self.expect("op", ")", "')'")
            return node
        found = t.text or "the end of the expression"
        raise ExprError(f"expected a value, a column or '(', found {found!r}", t.offset)


def _typed_literal(kind: str, token: Token) -> Any:
    text = token.value
    try:
        if kind == "timestamp":
            return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if kind == "date":
            return dt.date.fromisoformat(text)
        return Decimal(text)
    except (ValueError, ArithmeticError):
        raise ExprError(f"{kind} '{text}' is not a valid {kind}", token.offset) from None


def parse(text: str) -> Node:
    """The tree of `text`, or `ExprError`."""
    return _Parser(text).parse()


# -- compiling ---------------------------------------------------------------------------

_COMPARE = {
    "=": pc.equal,
    "!=": pc.not_equal,
    "<": pc.less,
    "<=": pc.less_equal,
    ">": pc.greater,
    ">=": pc.greater_equal,
}
_ARITH = {"+": pc.add_checked, "-": pc.subtract_checked, "*": pc.multiply_checked}


def _to_float(v: Value) -> Value:
    t = v.type
    if pa.types.is_integer(t) or pa.types.is_decimal(t):
        return pc.cast(v, pa.float64())
    return v


def _round(v: Value, n: Value | None = None) -> Value:
    digits = 0 if n is None else int(n.as_py()) if isinstance(n, pa.Scalar) else 0
    return pc.round(v, ndigits=digits)


def _substr(v: Value, start: Value, length: Value | None = None) -> Value:
    begin = int(start.as_py()) - 1 if isinstance(start, pa.Scalar) else 0
    stop = None if length is None else begin + int(length.as_py())
    return pc.utf8_slice_codeunits(v, start=max(begin, 0), stop=stop)


def _if(cond: Value, a: Value, b: Value) -> Value:
    return pc.if_else(cond, a, b)


def _now() -> Value:
    return pa.scalar(dt.datetime.now(dt.UTC), pa.timestamp("us", tz="UTC"))


def _pattern(fn: Callable[..., Value]) -> Callable[..., Value]:
    def call(v: Value, pattern: Value) -> Value:
        if not isinstance(pattern, pa.Scalar):
            raise TypeError("the pattern must be a quoted string")
        return fn(v, pattern=pattern.as_py())

    return call


# name → (function, least arguments, most arguments, what it does): docs/transforms.md.
FUNCTIONS: dict[str, tuple[Callable[..., Value], int, int, str]] = {
    "lower": (pc.utf8_lower, 1, 1, "text in lower case"),
    "upper": (pc.utf8_upper, 1, 1, "text in upper case"),
    "trim": (pc.utf8_trim_whitespace, 1, 1, "text without surrounding white space"),
    "length": (pc.utf8_length, 1, 1, "characters in the text"),
    "abs": (pc.abs_checked, 1, 1, "absolute value"),
    "round": (_round, 1, 2, "round(x[, digits]) half to even"),
    "coalesce": (pc.coalesce, 1, 64, "the first non-null argument"),
    "concat": (lambda *a: pc.binary_join_element_wise(*a, ""), 1, 64, "text joined"),
    "substr": (_substr, 2, 3, "substr(text, start[, length]), start counted from 1"),
    "replace": (
        lambda v, p, r: pc.replace_substring(v, pattern=p.as_py(), replacement=r.as_py()),
        3,
        3,
        "replace(text, 'find', 'with')",
    ),
    "matches": (_pattern(pc.match_substring_regex), 2, 2, "matches(text, 'regex')"),
    "starts_with": (_pattern(pc.starts_with), 2, 2, "starts_with(text, 'prefix')"),
    "ends_with": (_pattern(pc.ends_with), 2, 2, "ends_with(text, 'suffix')"),
    "if": (_if, 3, 3, "if(condition, then, else)"),
    "year": (pc.year, 1, 1, "year of a date or timestamp"),
    "month": (pc.month, 1, 1, "month (1-12)"),
    "day": (pc.day, 1, 1, "day of the month"),
    "hour": (pc.hour, 1, 1, "hour (0-23)"),
    "now": (_now, 0, 0, "the current time, UTC (one value per batch)"),
}


def compile_expr(text: str, schema: pa.Schema | None = None) -> Compiled:
    """Compile `text` into a function of a batch. With `schema`, the function is tried on an
    empty batch of it, so unknown columns and types that do not combine fail here."""
    tree = parse(text)
    fn = _compile(tree, text)
    if schema is not None:
        check(fn, schema, text)
    return fn


def check(fn: Compiled, schema: pa.Schema, text: str) -> pa.DataType:
    """The result type of `fn` on `schema`; `ExprError` if it cannot run on it."""
    empty = pa.RecordBatch.from_pylist([], schema=schema)
    out = fn(empty)
    return out.type


def columns_of(text: str) -> list[str]:
    """The column names `text` refers to, in order of first use."""
    found: list[str] = []

    def walk(node: Node) -> None:
        if node.op == "col" and node.value not in found:
            found.append(node.value)
        for arg in node.args:
            walk(arg)

    walk(parse(text))
    return found


def _snippet(text: str, node: Node) -> str:
    rest = text[node.offset :].strip()
    return rest if len(rest) <= 40 else rest[:37] + "..."


def _compile(node: Node, text: str) -> Compiled:
    op = node.op
    if op == "lit":
        scalar = pa.scalar(node.value)
        return lambda batch: scalar
    if op == "col":
        name = node.value

        def column(batch: pa.RecordBatch) -> Value:
            index = batch.schema.get_field_index(name)
            if index < 0:
                close = difflib.get_close_matches(name, batch.schema.names, n=1)
                hint = (
                    f"; did you mean '{close[0]}'?"
                    if close
                    else f"; columns: {', '.join(batch.schema.names)}"
                )
                raise ExprError(f"unknown column '{name}'{hint}", node.offset)
            return batch.column(index)

        return column
    args = [_compile(a, text) for a in node.args]
    if op == "call":
        name = node.value
        if name not in FUNCTIONS:
            close = difflib.get_close_matches(name, list(FUNCTIONS), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ExprError(f"unknown function '{name}'{hint}", node.offset)
        fn, least, most, _ = FUNCTIONS[name]
        if not least <= len(args) <= most:
            want = str(least) if least == most else f"{least} to {most}"
            raise ExprError(f"{name}() takes {want} argument(s), got {len(args)}", node.offset)
        return _guard(lambda b: fn(*_unify([a(b) for a in args])), node, text)
    if op in _COMPARE or op in _ARITH:
        f, (a, b) = {**_COMPARE, **_ARITH}[op], args
        return _guard(lambda batch: f(*_unify([a(batch), b(batch)])), node, text)
    if op == "/":
        a, b = args
        return _guard(lambda batch: pc.divide(_to_float(a(batch)), _to_float(b(batch))), node, text)
    if op == "%":
        a, b = args

        def modulo(batch: pa.RecordBatch) -> Value:
            x, y = a(batch), b(batch)
            return pc.subtract(x, pc.multiply(pc.floor(pc.divide(_to_float(x), _to_float(y))), y))

        return _guard(modulo, node, text)
    if op == "neg":
        (a,) = args
        return _guard(lambda batch: pc.negate_checked(a(batch)), node, text)
    if op == "||":
        a, b = args
        return _guard(
            lambda batch: pc.binary_join_element_wise(
                pc.cast(a(batch), pa.string()), pc.cast(b(batch), pa.string()), ""
            ),
            node,
            text,
        )
    if op == "and":
        a, b = args
        return _guard(lambda batch: pc.and_kleene(a(batch), b(batch)), node, text)
    if op == "or":
        a, b = args
        return _guard(lambda batch: pc.or_kleene(a(batch), b(batch)), node, text)
    if op == "not":
        (a,) = args
        return _guard(lambda batch: pc.invert(a(batch)), node, text)
    if op == "is_null":
        (a,) = args
        return _guard(lambda batch: pc.is_null(a(batch)), node, text)
    if op == "is_not_null":
        (a,) = args
        return _guard(lambda batch: pc.is_valid(a(batch)), node, text)
    if op == "in":
        (a,) = args
        items = node.value

        def member(batch: pa.RecordBatch) -> Value:
            v = a(batch)
            values = pa.array(items)
            if values.type != v.type:
                values = values.cast(v.type)
            return pc.is_in(v, value_set=values)

        return _guard(member, node, text)
    if op == "between":
        a, lo, hi = args
        return _guard(
            lambda batch: pc.and_kleene(
                pc.greater_equal(a(batch), lo(batch)), pc.less_equal(a(batch), hi(batch))
            ),
            node,
            text,
        )
    if op == "like":
        (a,) = args
        return _guard(lambda batch: pc.match_like(a(batch), pattern=node.value), node, text)
    raise ExprError(f"unsupported operator {op!r}", node.offset)  # pragma: no cover


def _unify(values: list[Value]) -> list[Value]:
    """A bare `null` takes the type of the other arguments (`coalesce(x, null)`)."""
    typed = next((v.type for v in values if v.type != pa.null()), None)
    if typed is None:
        return values
    return [pa.scalar(None, typed) if v.type == pa.null() else v for v in values]


def _guard(fn: Compiled, node: Node, text: str) -> Compiled:
    """Turn Arrow's type errors into an `ExprError` naming the part of the text at fault."""

    def run(batch: pa.RecordBatch) -> Value:
        try:
            return fn(batch)
        except ExprError:
            raise
        except (pa.ArrowNotImplementedError, pa.ArrowTypeError, TypeError) as exc:
            reason = str(exc).splitlines()[0]
            raise ExprError(
                f"cannot evaluate '{_snippet(text, node)}': {reason}", node.offset
            ) from None
        except pa.ArrowInvalid as exc:
            reason = str(exc).splitlines()[0]
            raise ExprError(f"'{_snippet(text, node)}' failed: {reason}", node.offset) from None

    return run


def as_array(value: Value, rows: int) -> pa.Array:
    """An expression's result as one array of `rows` values (a scalar is repeated)."""
    if isinstance(value, pa.Scalar):
        return pa.repeat(value, rows)
    if isinstance(value, pa.ChunkedArray):
        return value.combine_chunks()
    return value
