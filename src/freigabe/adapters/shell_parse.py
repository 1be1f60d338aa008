"""Shell scripts → `freigabe.audit.facts.Script`, read by tree-sitter-bash.

Why tree-sitter-bash (and not shfmt's JSON tree): it parses in-process (no process per
script, so a 30-file workflow set stays well under the 2 s budget), it tolerates what it
cannot read (it marks an ERROR node and keeps the rest, so one odd line does not hide the
whole script), and its nodes carry line numbers. shfmt is the more exact bash parser, but
it refuses a whole script on the first error and would cost a subprocess per `run:` block.

GitHub's `${{ … }}` expressions are not shell: they are replaced by placeholders of one
line each (padded with newlines so line numbers stay right) before parsing and put back
into the words afterwards. Comments are never code: the parser drops them.

Scripts that run elsewhere are scripts too: `ssh host '…'`, `ssh host <<'EOF' … EOF`,
`bash -c '…'` become child scripts with their own `set -e` state (a remote shell starts
without `-e`; its exit status is that of its last command).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

import tree_sitter_bash
from tree_sitter import Language, Node, Parser

from freigabe.audit.facts import Assign, Cmd, Loop, Redirect, Script, ScriptKind

_PARSER = Parser(Language(tree_sitter_bash.language()))
_EXPR = re.compile(r"\$\{\{.*?\}\}", re.DOTALL)  # GitHub expression syntax, not shell
_SSH_ARG_FLAGS = set("bcDEeFIiJLlmOopQRSWw")
_SUDO_ARG_FLAGS = {"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U"}


def _protect(text: str) -> tuple[str, dict[str, str]]:
    """Replace `${{ … }}` by placeholders that keep the line count."""
    found: dict[str, str] = {}

    def sub(match: re.Match[str]) -> str:
        key = f"__GHAX{len(found)}__"
        found[key] = match.group(0)
        return key + "\n" * match.group(0).count("\n")

    return _EXPR.sub(sub, text), found


def _restore(text: str, exprs: dict[str, str]) -> str:
    for key, value in exprs.items():
        if key in text:
            text = text.replace(key, value)
    return text


def _heredoc_text(body: str, quoted: bool) -> str:
    """What a shell reading an unquoted heredoc receives: `\\$`, `\\``, `\\\\` lose their backslash."""
    if quoted:
        return body
    out, i = [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body) and body[i + 1] in "$`\\":
            out.append(body[i + 1])
            i += 2
            continue
        out.append(body[i])
        i += 1
    return "".join(out)


def _unescape(text: str, double_quoted: bool) -> str:
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "\n":
                i += 2
                continue
            if not double_quoted or nxt in '"$`\\':
                out.append(nxt)
                i += 2
                continue
        out.append(ch)
        i += 1
    return "".join(out)


@dataclass
class _Ctx:
    capture: str | None = None
    capture_masked: bool = False
    in_subst: bool = False
    pipe_pos: int = 0
    pipe_len: int = 1
    condition: bool = False
    condition_fail_exits: bool = False
    negated: bool = False
    and_left: bool = False
    fallback: tuple[tuple[str, ...], ...] | None = None
    loops: tuple[int, ...] = ()
    group: int = -1
    top: int = 0
    redirects: tuple[Redirect, ...] = ()
    heredoc: str | None = None
    heredoc_node: Node | None = None
    heredoc_quoted: bool = False
    redirect_vars: frozenset[str] = frozenset()


@dataclass
class _Builder:
    src: bytes
    exprs: dict[str, str]
    base_line: int  # file line of the script's first line
    kind: ScriptKind
    commands: list[Cmd] = field(default_factory=list)
    assigns: list[Assign] = field(default_factory=list)
    loops: list[Loop] = field(default_factory=list)
    children: list[Script] = field(default_factory=list)
    sleeping_loops: set[int] = field(default_factory=set)
    errexit_at: int | None = None
    pipefail: bool = False
    error: str | None = None
    _next_id: int = 0

    # -- small readers -------------------------------------------------------------------
    def text(self, node: Node) -> str:
        return self.src[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def line(self, node: Node) -> int:
        return self.base_line + node.start_point[0]

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def word(self, node: Node) -> str:
        """A word as the command sees it: quotes removed, expansions kept as written."""
        kind = node.type
        text = self.text(node)
        if kind == "raw_string":
            value = text[1:-1]
        elif kind == "string":
            value = _unescape(text[1:-1], double_quoted=True)
        elif kind == "ansi_c_string":
            value = text[2:-1]
        elif kind == "concatenation":
            value = "".join(self.word(c) for c in node.children)
        elif kind == "word":
            value = _unescape(text, double_quoted=False)
        else:
            value = text
        return _restore(value, self.exprs)

    def vars_in(self, node: Node) -> set[str]:
        found: set[str] = set()
        stack = [node]
        while stack:
            current = stack.pop()
            if current.type in ("simple_expansion", "expansion"):
                found.update(self.text(c) for c in current.children if c.type == "variable_name")
                found.update(
                    self.text(c)
                    for c in current.children
                    if c.type == "special_variable_name" and self.text(c).isidentifier()
                )
            stack.extend(current.children)
        return found

    def exits_nonzero(self, nodes: list[Node]) -> bool:
        """Does one of these statements end the script or function with a failure?"""
        stack = list(nodes)
        while stack:
            current = stack.pop()
            if current.type == "command":
                name = current.child_by_field_name("name")
                words = [self.text(c) for c in current.children if c.is_named]
                first = self.text(name) if name is not None else ""
                if first == "false":
                    return True
                if first in ("exit", "return") and len(words) >= 2 and words[1] != "0":
                    return True
                continue
            if current.type == "command_substitution":
                continue
            stack.extend(current.children)
        return False

    def command_words(self, nodes: list[Node]) -> tuple[tuple[str, ...], ...]:
        out: list[tuple[str, ...]] = []
        stack = list(reversed(nodes))
        while stack:
            current = stack.pop()
            if current.type == "command":
                out.append(tuple(self.word(c) for c in current.children if c.type not in _NOT_ARGS and c.is_named))
            elif current.type == "test_command":
                out.append(("[",))
            elif current.type != "command_substitution":
                stack.extend(reversed(current.children))
        return tuple(out)

    # -- the walk -------------------------------------------------------------------------
    def statements(self, nodes: list[Node], ctx: _Ctx, top_level: bool = False) -> None:
        for node in nodes:
            if not node.is_named or node.type == "comment":
                continue
            if top_level:
                ctx = replace(ctx, top=len(self.commands))
            self.visit(node, ctx)

    def visit(self, node: Node, ctx: _Ctx) -> None:
        kind = node.type
        if kind == "ERROR" and self.error is None:
            self.error = self.describe_error(node)
        handler = _HANDLERS.get(kind)
        if handler is not None:
            handler(self, node, ctx)
            return
        if kind in ("comment", "heredoc_body", "heredoc_start", "heredoc_end"):
            return
        self.statements(list(node.children), ctx)

    def describe_error(self, node: Node) -> str:
        """The innermost unreadable part: its line and that line's text."""
        deepest = node
        stack = list(node.children)
        while stack:
            current = stack.pop()
            if current.type == "ERROR" or current.is_missing:
                deepest = current
            stack.extend(current.children)
        row = deepest.start_point[0]
        lines = self.src.decode("utf-8", "replace").splitlines()
        text = _restore(lines[row], self.exprs).strip()[:80] if row < len(lines) else ""
        return f"line {self.base_line + row}: cannot read `{text}`"

    def visit_program(self, node: Node, ctx: _Ctx) -> None:
        self.statements(list(node.children), ctx, top_level=True)

    def visit_list(self, node: Node, ctx: _Ctx) -> None:
        named = [c for c in node.children if c.is_named and c.type != "comment"]
        ops = [c.type for c in node.children if not c.is_named]
        group = ctx.group if ctx.group >= 0 else self.new_id()
        if len(named) != 2 or not ops:
            self.statements(named, replace(ctx, group=group))
            return
        left, right = named
        op = ops[0]
        if op == "||":
            left_ctx = replace(ctx, group=group, fallback=self.command_words([right]), and_left=False)
        elif op == "&&":
            left_ctx = replace(ctx, group=group, and_left=True)
        else:
            left_ctx = replace(ctx, group=group)
        self.visit(left, left_ctx)
        self.visit(right, replace(ctx, group=group))

    def visit_pipeline(self, node: Node, ctx: _Ctx) -> None:
        parts = [c for c in node.children if c.is_named and c.type != "comment"]
        for pos, part in enumerate(parts):
            self.visit(part, replace(ctx, pipe_pos=pos, pipe_len=len(parts)))

    def visit_negated(self, node: Node, ctx: _Ctx) -> None:
        self.statements(list(node.children), replace(ctx, negated=not ctx.negated))

    def visit_redirected(self, node: Node, ctx: _Ctx) -> None:
        redirects = list(ctx.redirects)
        heredoc: str | None = ctx.heredoc
        heredoc_node: Node | None = ctx.heredoc_node
        quoted = ctx.heredoc_quoted
        body: list[Node] = []
        for child in node.children:
            if child.type in ("file_redirect", "herestring_redirect"):
                redirects.append(self.redirect(child))
            elif child.type == "heredoc_redirect":
                body_node = next((c for c in child.children if c.type == "heredoc_body"), None)
                start = next((c for c in child.children if c.type == "heredoc_start"), None)
                heredoc = self.text(body_node) if body_node is not None else ""
                heredoc_node = body_node
                quoted = start is not None and any(q in self.text(start) for q in "'\"\\")
                redirects.append(Redirect("<<", self.text(start) if start is not None else ""))
                # a heredoc's pipeline (`<<EOF | ssh host`) or list continues inside the redirect
                body.extend(c for c in child.children if c.type in ("pipeline", "list", "command"))
            elif child.is_named and child.type != "comment":
                body.append(child)
        targets = [c for c in node.children if c.type in ("file_redirect", "herestring_redirect")]
        found = frozenset(v for t in targets for v in self.vars_in(t))
        inner = replace(
            ctx,
            redirects=tuple(redirects),
            heredoc=heredoc,
            heredoc_node=heredoc_node,
            heredoc_quoted=quoted,
            redirect_vars=ctx.redirect_vars | found,
        )
        for index, part in enumerate(body):
            self.visit(part, inner if index == 0 else ctx)

    def redirect(self, node: Node) -> Redirect:
        op = "".join(self.text(c) for c in node.children if not c.is_named or c.type == "file_descriptor")
        target = next((self.word(c) for c in node.children if c.is_named and c.type != "file_descriptor"), "")
        return Redirect(op, target)

    def visit_if(self, node: Node, ctx: _Ctx, later: tuple[Node, ...] = ()) -> None:
        """`if`/`elif`: a condition's failure runs the next `elif`/`else` (or, for `! cmd`, the body)."""
        # the grammar marks an `if`'s condition as a field but not an `elif`'s: split at `then`
        then_at = next((i for i, c in enumerate(node.children) if c.type == "then"), len(node.children))
        named = [(i, c) for i, c in enumerate(node.children) if c.is_named and c.type != "comment"]
        clauses = [c for _, c in named if c.type in ("elif_clause", "else_clause")]
        conditions = [c for i, c in named if i < then_at and c not in clauses]
        body = [c for i, c in named if i > then_at and c not in clauses]
        rest = [*clauses, *later]
        for cond in conditions:
            fail_path = body if cond.type == "negated_command" else rest
            cond_ctx = replace(
                ctx,
                condition=True,
                condition_fail_exits=self.exits_nonzero(list(fail_path)),
                group=self.new_id(),
                fallback=None,
                and_left=False,
            )
            self.visit(cond, cond_ctx)
        plain = replace(ctx, condition=False, condition_fail_exits=False, fallback=None, and_left=False)
        self.statements(body, plain)
        for index, clause in enumerate(rest[: len(clauses)]):
            if clause.type == "elif_clause":
                self.visit_if(clause, plain, tuple(rest[index + 1 :]))
            else:
                self.statements(list(clause.children), plain)

    def visit_loop(self, node: Node, ctx: _Ctx) -> None:
        loop_id = self.new_id()
        word = node.children[0].type if node.children else "for"
        self.loops.append(Loop(loop_id, word, self.line(node), False))
        inner = replace(ctx, loops=(*ctx.loops, loop_id), fallback=None, and_left=False)
        for cond in node.children_by_field_name("condition"):
            self.visit(cond, replace(inner, condition=True, condition_fail_exits=False, group=self.new_id()))
        for value in node.children_by_field_name("value"):
            self.visit(value, replace(ctx, in_subst=True))
        body = node.child_by_field_name("body")
        if body is not None:
            self.statements(list(body.children), inner)

    def visit_case(self, node: Node, ctx: _Ctx) -> None:
        value = node.child_by_field_name("value")
        items: list[tuple[tuple[str, ...], bool]] = []
        bodies: list[list[Node]] = []
        for item in (c for c in node.children if c.type == "case_item"):
            patterns = tuple(self.word(p) for p in item.children_by_field_name("value"))
            body = [c for c in item.children if c.is_named and c not in item.children_by_field_name("value")]
            items.append((patterns, self.exits_nonzero(body)))
            bodies.append(body)
        self.emit(
            node,
            ctx,
            words=("case", self.word(value) if value is not None else ""),
            kind="case",
            items=tuple(items),
            var_node=value,
        )
        for body in bodies:
            self.statements(body, replace(ctx, fallback=None, and_left=False))

    def visit_assignment(self, node: Node, ctx: _Ctx, masked: bool = False) -> None:
        name_node = node.child_by_field_name("name")
        value_node = node.child_by_field_name("value")
        name = self.text(name_node) if name_node is not None else ""
        self.assigns.append(
            Assign(
                name,
                len(self.commands),
                self.line(node),
                self.word(value_node) if value_node is not None else "",
                masked,
            )
        )
        if value_node is not None:
            self.substitutions(value_node, replace(ctx, capture=name, capture_masked=masked, pipe_pos=0, pipe_len=1))

    def visit_declaration(self, node: Node, ctx: _Ctx) -> None:
        for child in node.children:
            if child.type == "variable_assignment":
                self.visit_assignment(child, ctx, masked=True)

    def visit_test(self, node: Node, ctx: _Ctx) -> None:
        words: list[str] = []
        stack = list(reversed(node.children))
        while stack:
            current = stack.pop()
            if current.type in ("binary_expression", "unary_expression", "parenthesized_expression"):
                stack.extend(reversed(current.children))
            elif current.type != "comment":
                words.append(self.word(current))
        self.emit(node, ctx, words=tuple(words), kind="test")
        self.substitutions(node, replace(ctx, in_subst=True, capture=None))

    def visit_command(self, node: Node, ctx: _Ctx) -> None:
        args = [c for c in node.children if c.is_named and c.type not in _NOT_ARGS]
        redirects = list(ctx.redirects)
        for child in node.children:
            if child.type in ("file_redirect", "herestring_redirect"):
                redirects.append(self.redirect(child))
            elif child.type == "variable_assignment":
                self.visit_assignment(child, ctx)
        words = tuple(self.word(a) for a in args)
        cmd = self.emit(node, replace(ctx, redirects=tuple(redirects)), words=words, kind="simple")
        for arg in args:
            self.substitutions(arg, replace(ctx, in_subst=True, capture=None, pipe_pos=0, pipe_len=1))
        self.nested(cmd, args, ctx)

    def substitutions(self, node: Node, ctx: _Ctx) -> None:
        """Commands inside `$(…)` / backticks within a word."""
        stack = [node]
        while stack:
            current = stack.pop()
            if current.type in ("command_substitution", "process_substitution"):
                inner = replace(
                    ctx, in_subst=True, redirects=(), heredoc=None, heredoc_node=None, redirect_vars=frozenset()
                )
                self.statements(list(current.children), inner)
                continue
            stack.extend(reversed(current.children))

    def emit(
        self,
        node: Node,
        ctx: _Ctx,
        *,
        words: tuple[str, ...],
        kind: Any,
        items: tuple[tuple[tuple[str, ...], bool], ...] = (),
        var_node: Node | None = None,
    ) -> Cmd:
        first_line = self.text(node).splitlines()[0] if self.text(node) else ""
        variables = self.vars_in(node if var_node is None else var_node) | ctx.redirect_vars
        cmd = Cmd(
            index=len(self.commands),
            words=words,
            line=self.line(node),
            text=_restore(first_line, self.exprs).strip()[:200],
            kind=kind,
            vars=frozenset(variables),
            capture=ctx.capture,
            capture_masked=ctx.capture_masked,
            in_subst=ctx.in_subst,
            pipe_pos=ctx.pipe_pos,
            pipe_len=ctx.pipe_len,
            condition=ctx.condition,
            condition_fail_exits=ctx.condition_fail_exits,
            negated=ctx.negated,
            and_left=ctx.and_left,
            fallback=ctx.fallback,
            loops=ctx.loops,
            group=ctx.group,
            top=ctx.top,
            items=items,
            redirects=ctx.redirects,
            heredoc=_restore(ctx.heredoc, self.exprs) if ctx.heredoc is not None else None,
        )
        self.commands.append(cmd)
        if cmd.name == "sleep":
            self.sleeping_loops.update(ctx.loops)
        if cmd.name == "set" and not ctx.in_subst:
            flags = " ".join(words[1:])
            if ("-" in flags and "e" in "".join(w[1:] for w in words[1:] if w.startswith("-"))) or (
                "errexit" in flags and "-o" in words
            ):
                self.errexit_at = cmd.index if self.errexit_at is None else self.errexit_at
            if "pipefail" in flags and "-o" in words:
                self.pipefail = True
        return cmd

    # -- scripts inside scripts -----------------------------------------------------------
    def nested(self, cmd: Cmd, args: list[Node], ctx: _Ctx) -> None:
        words = list(cmd.words)
        nodes = list(args)
        while words and words[0] in ("sudo", "env", "nohup", "time", "exec", "command"):
            prefix = words.pop(0)
            nodes.pop(0)
            while words and (words[0].startswith("-") or (prefix == "env" and "=" in words[0])):
                flag = words.pop(0)
                nodes.pop(0)
                if prefix == "sudo" and flag in _SUDO_ARG_FLAGS and words:
                    words.pop(0)
                    nodes.pop(0)
        if not words:
            return
        name = words[0].rsplit("/", 1)[-1]
        if name == "ssh":
            self.nested_ssh(cmd, words, nodes, ctx)
        elif name in ("bash", "sh", "dash", "zsh"):
            self.nested_shell(cmd, words, nodes, ctx)

    def nested_ssh(self, cmd: Cmd, words: list[str], nodes: list[Node], ctx: _Ctx) -> None:
        i = 1
        while i < len(words) and words[i].startswith("-"):
            flag = words[i]
            i += 2 if len(flag) == 2 and flag[1] in _SSH_ARG_FLAGS else 1
        if i >= len(words):
            return
        host = words[i]
        rest_words, rest_nodes = words[i + 1 :], nodes[i + 1 :]
        # `ssh host bash -s <<EOF`, also written as one word: "VAR=x bash -se"
        tokens = " ".join(rest_words).split()
        shell_at = next((i for i, t in enumerate(tokens) if t.rsplit("/", 1)[-1] in ("bash", "sh")), None)
        shell_wrapper = (
            shell_at is not None
            and all("=" in t for t in tokens[:shell_at])
            and all(t.startswith("-") for t in tokens[shell_at + 1 :])
        )
        wrapper = rest_words[0].rsplit("/", 1)[-1] if rest_words else ""
        if (
            wrapper in ("bash", "sh")
            and len(rest_words) >= 3
            and rest_words[1].startswith("-")
            and "c" in rest_words[1]
        ):
            # `ssh host bash -lc '…'`: the argument after -c is the remote script
            node = rest_nodes[2]
            errexit = "e" in rest_words[1]
            self.add_child(self.remote_text(node), self.line(node), "ssh", cmd, host=host, errexit=errexit)
            return
        if rest_nodes and not shell_wrapper:
            text = " ".join(self.remote_text(n) for n in rest_nodes)
            self.add_child(text, self.line(rest_nodes[0]), "ssh", cmd, host=host, errexit=False)
        elif ctx.heredoc is not None and ctx.heredoc_node is not None:
            flags = "".join(t[1:] for t in tokens if t.startswith("-") and not t.startswith("--"))
            body = _heredoc_text(ctx.heredoc, ctx.heredoc_quoted)
            self.add_child(body, self.line(ctx.heredoc_node), "ssh-heredoc", cmd, host=host, errexit="e" in flags)

    def nested_shell(self, cmd: Cmd, words: list[str], nodes: list[Node], ctx: _Ctx) -> None:
        flags = ""
        for index, word in enumerate(words[1:], start=1):
            if word.startswith("-") and not word.startswith("--"):
                flags += word[1:]
                if "c" in word[1:] and index + 1 < len(nodes):
                    text = self.remote_text(nodes[index + 1])
                    self.add_child(text, self.line(nodes[index + 1]), "bash-c", cmd, errexit="e" in flags)
                    return
            else:
                return
        if ctx.heredoc is not None and ctx.heredoc_node is not None:
            body = _heredoc_text(ctx.heredoc, ctx.heredoc_quoted)
            self.add_child(body, self.line(ctx.heredoc_node), "bash-c", cmd, errexit="e" in flags)

    def remote_text(self, node: Node) -> str:
        """The text a remote shell receives from this argument (placeholders put back)."""
        text = self.text(node)
        if node.type == "raw_string":
            text = text[1:-1]
        elif node.type == "string":
            text = _unescape(text[1:-1], double_quoted=True)
        elif node.type == "word":
            text = _unescape(text, double_quoted=False)
        return _restore(text, self.exprs)

    def add_child(
        self, text: str, line: int, kind: ScriptKind, cmd: Cmd, host: str | None = None, *, errexit: bool
    ) -> None:
        child = parse_script(text, line, kind, errexit=errexit)
        self.children.append(replace(child, carrier=cmd.index, host=host))


_NOT_ARGS = {"file_redirect", "herestring_redirect", "variable_assignment", "comment", "heredoc_redirect"}
_HANDLERS: dict[str, Any] = {
    "program": _Builder.visit_program,
    "list": _Builder.visit_list,
    "pipeline": _Builder.visit_pipeline,
    "negated_command": _Builder.visit_negated,
    "redirected_statement": _Builder.visit_redirected,
    "if_statement": _Builder.visit_if,
    "while_statement": _Builder.visit_loop,
    "until_statement": _Builder.visit_loop,
    "for_statement": _Builder.visit_loop,
    "c_style_for_statement": _Builder.visit_loop,
    "case_statement": _Builder.visit_case,
    "variable_assignment": _Builder.visit_assignment,
    "declaration_command": _Builder.visit_declaration,
    "test_command": _Builder.visit_test,
    "command": _Builder.visit_command,
}


def parse_script(
    text: str, line: int, kind: ScriptKind = "run", *, errexit: bool = False, pipefail: bool = False
) -> Script:
    """Parse one script whose first line is file line `line`."""
    protected, exprs = _protect(text)
    src = protected.encode("utf-8")
    tree = _PARSER.parse(src)
    builder = _Builder(src, exprs, line, kind, errexit_at=0 if errexit else None, pipefail=pipefail)
    builder.visit(tree.root_node, _Ctx())
    loops = tuple(replace(loop, has_sleep=loop.id in builder.sleeping_loops) for loop in builder.loops)
    error = builder.error
    if error is None and tree.root_node.has_error:
        error = "the shell parser could not read part of it"
    return Script(
        kind=kind,
        text=text,
        line=line,
        commands=tuple(builder.commands),
        assigns=tuple(builder.assigns),
        loops=loops,
        errexit=errexit,
        pipefail=builder.pipefail,
        errexit_at=builder.errexit_at,
        children=tuple(builder.children),
        error=error,
    )
