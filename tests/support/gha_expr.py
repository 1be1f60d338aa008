"""GitHub Actions expressions (`${{ … }}`) for the fake runner: the documented subset workflows use.

Literals, context paths (`github.sha`, `inputs.x`, `steps.id.outputs.y`, `needs.j.outputs.z`,
`secrets.X`, `env.X`), `!`, `==`, `!=`, `<`, `>`, `<=`, `>=`, `&&`, `||`, parentheses, and the
functions `success()`, `failure()`, `always()`, `cancelled()`, `contains`, `startsWith`,
`endsWith`, `format`, `toJSON`, `fromJSON`. Comparison of strings ignores case, as GitHub's does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?)|(?P<str>'(?:[^']|'')*')|(?P<op>==|!=|<=|>=|&&|\|\||[!<>().,\[\]*])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))"
)
TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}", re.S)


class ExprError(ValueError):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ExprError(f"cannot read expression at {text[pos:]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def truthy(value: Any) -> bool:
    return value not in (None, False, 0, "", 0.0)


def text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    if isinstance(a, bool) or isinstance(b, bool):
        return truthy(a) == truthy(b) if a is not None and b is not None else a == b
    return bool(a == b)


class _Parser:
    def __init__(self, text: str, contexts: dict[str, Any], status: Callable[[str], bool]) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.contexts = contexts
        self.status = status
        self.used_status = False

    def peek(self) -> str | None:
        return self.toks[self.i][1] if self.i < len(self.toks) else None

    def take(self, want: str | None = None) -> tuple[str, str]:
        if self.i >= len(self.toks):
            raise ExprError("unexpected end of expression")
        tok = self.toks[self.i]
        if want is not None and tok[1] != want:
            raise ExprError(f"expected {want!r}, found {tok[1]!r}")
        self.i += 1
        return tok

    def parse(self) -> Any:
        value = self.or_()
        if self.i != len(self.toks):
            raise ExprError(f"unexpected {self.peek()!r}")
        return value

    def or_(self) -> Any:
        value = self.and_()
        while self.peek() == "||":
            self.take()
            right = self.and_()
            value = value if truthy(value) else right
        return value

    def and_(self) -> Any:
        value = self.cmp()
        while self.peek() == "&&":
            self.take()
            right = self.cmp()
            value = right if truthy(value) else value
        return value

    def cmp(self) -> Any:
        left = self.unary()
        op = self.peek()
        if op in ("==", "!=", "<", ">", "<=", ">="):
            self.take()
            right = self.unary()
            if op == "==":
                return _equal(left, right)
            if op == "!=":
                return not _equal(left, right)
            ops: dict[str, Callable[[Any, Any], bool]] = {
                "<": lambda a, b: a < b,
                ">": lambda a, b: a > b,
                "<=": lambda a, b: a <= b,
                ">=": lambda a, b: a >= b,
            }
            return ops[op](left, right)
        return left

    def unary(self) -> Any:
        if self.peek() == "!":
            self.take()
            return not truthy(self.unary())
        return self.primary()

    def primary(self) -> Any:
        kind, value = self.take()
        if value == "(":
            inner = self.or_()
            self.take(")")
            return inner
        if kind == "num":
            return float(value) if "." in value else int(value)
        if kind == "str":
            return value[1:-1].replace("''", "'")
        if kind != "name":
            raise ExprError(f"unexpected {value!r}")
        if value in ("true", "false"):
            return value == "true"
        if value == "null":
            return None
        if self.peek() == "(":
            return self.call(value)
        current: Any = self.contexts.get(value)
        while self.peek() in (".", "["):
            if self.take()[1] == ".":
                key = self.take()[1]
            else:
                key = text(self.or_())
                self.take("]")
            current = current.get(key) if isinstance(current, dict) else None
        return current

    def call(self, name: str) -> Any:
        self.take("(")
        args: list[Any] = []
        while self.peek() != ")":
            args.append(self.or_())
            if self.peek() == ",":
                self.take()
        self.take(")")
        lowered = name.lower()
        if lowered in ("success", "failure", "always", "cancelled"):
            self.used_status = True
            return self.status(lowered)
        if lowered == "contains":
            hay, needle = args
            if isinstance(hay, list):
                return any(_equal(h, needle) for h in hay)
            return text(needle).lower() in text(hay).lower()
        if lowered == "startswith":
            return text(args[0]).lower().startswith(text(args[1]).lower())
        if lowered == "endswith":
            return text(args[0]).lower().endswith(text(args[1]).lower())
        if lowered == "format":
            out = text(args[0])
            for index, arg in enumerate(args[1:]):
                out = out.replace("{" + str(index) + "}", text(arg))
            return out
        if lowered == "tojson":
            return json.dumps(args[0])
        if lowered == "fromjson":
            return json.loads(text(args[0]))
        raise ExprError(f"function {name}() is not supported by the fake runner")


def evaluate(expr: str, contexts: dict[str, Any], status: Callable[[str], bool] | None = None) -> Any:
    parser = _Parser(expr, contexts, status or (lambda _: True))
    return parser.parse()


def condition(expr: str | bool | None, contexts: dict[str, Any], status: Callable[[str], bool]) -> bool:
    """An `if:`: without a status function in it, `success() &&` is implied (GitHub's rule)."""
    if expr is None:
        return status("success")
    if isinstance(expr, bool):
        return expr and status("success")
    body = expr.strip()
    match = TEMPLATE.fullmatch(body)
    body = match.group(1) if match else body
    parser = _Parser(body, contexts, status)
    value = truthy(parser.parse())
    return value if parser.used_status else value and status("success")


def render(value: Any, contexts: dict[str, Any]) -> Any:
    """Substitute every `${{ }}` in a string (recursively in lists and mappings)."""
    if isinstance(value, str):
        whole = TEMPLATE.fullmatch(value.strip())
        if whole and value.strip() == value:
            return evaluate(whole.group(1), contexts)
        return TEMPLATE.sub(lambda m: text(evaluate(m.group(1), contexts)), value)
    if isinstance(value, list):
        return [render(v, contexts) for v in value]
    if isinstance(value, dict):
        return {k: render(v, contexts) for k, v in value.items()}
    return value
