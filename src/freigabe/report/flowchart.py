"""The plan as a flowchart: Mermaid text for Markdown, an inline SVG for the HTML page."""

from __future__ import annotations

from html import escape

from freigabe.core.plan import Step

COLORS = {"abort": "#b45309", "rollback": "#b91c1c", "warn": "#6b7280"}


def _label(step: Step) -> str:
    return step.title if len(step.title) <= 60 else step.title[:57] + "…"


def mermaid(steps: list[Step], abort: str, rollback: str, done: str) -> str:
    lines = ["flowchart TD"]
    for index, step in enumerate(steps):
        text = _label(step).replace('"', "'").replace("<", "‹").replace(">", "›")
        lines.append(f'  S{index}["{index + 1}. {text}"]')
        if index:
            lines.append(f"  S{index - 1} --> S{index}")
    lines.append(f'  S{len(steps) - 1} --> DONE(["✔ {done}"])' if steps else f'  DONE(["{done}"])')
    lines.append(f'  ABORT{{{{"✘ {abort}"}}}}')
    lines.append(f'  RB{{{{"↩ {rollback}"}}}}')
    for index, step in enumerate(steps):
        if step.on_failure == "abort":
            lines.append(f"  S{index} -. fail .-> ABORT")
        elif step.on_failure == "rollback":
            lines.append(f"  S{index} -. fail .-> RB")
    lines += ["  classDef abort stroke:#b45309", "  classDef rollback stroke:#b91c1c"]
    return "\n".join(lines)


def svg(steps: list[Step], abort: str, rollback: str, done: str) -> str:
    """A vertical chain of steps; dashed exits to the abort and rollback nodes on the right."""
    box_w, box_h, gap, left = 430, 30, 14, 20
    side_x = left + box_w + 120
    height = (len(steps) + 1) * (box_h + gap) + 40
    first_rb = next((i for i, s in enumerate(steps) if s.on_failure == "rollback"), len(steps) // 2)
    abort_y, rb_y = 40, 40 + first_rb * (box_h + gap)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="flowchart" role="img" width="{side_x + 230}" '
        f'height="{height}" viewBox="0 0 {side_x + 230} {height}" font-family="system-ui, sans-serif" '
        'font-size="12">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#374151"/></marker></defs>',
    ]
    for index, step in enumerate(steps):
        y = 20 + index * (box_h + gap)
        color = COLORS[step.on_failure]
        parts.append(
            f'<g class="step" data-step="{escape(step.id)}"><title>{escape(step.title)}</title>'
            f'<rect x="{left}" y="{y}" width="{box_w}" height="{box_h}" rx="6" fill="#f9fafb" '
            f'stroke="{color}" stroke-width="1.5"/>'
            f'<text x="{left + 10}" y="{y + 19}">{index + 1}. {escape(_label(step))}</text></g>'
        )
        parts.append(
            f'<line x1="{left + box_w / 2}" y1="{y + box_h}" x2="{left + box_w / 2}" '
            f'y2="{y + box_h + gap}" stroke="#374151" marker-end="url(#arrow)"/>'
        )
        if step.on_failure in ("abort", "rollback"):
            ty = abort_y + 15 if step.on_failure == "abort" else rb_y + 15
            parts.append(
                f'<path d="M {left + box_w} {y + box_h / 2} C {side_x - 60} {y + box_h / 2}, '
                f'{side_x - 60} {ty}, {side_x} {ty}" fill="none" stroke="{color}" '
                'stroke-dasharray="4 3" opacity="0.55" marker-end="url(#arrow)"/>'
            )
    done_y = 20 + len(steps) * (box_h + gap)
    parts.append(
        f'<rect x="{left}" y="{done_y}" width="{box_w}" height="{box_h}" rx="15" fill="#dcfce7" '
        f'stroke="#15803d"/><text x="{left + 10}" y="{done_y + 19}">✔ {escape(done)}</text>'
    )
    for y, text, color in ((abort_y, abort, COLORS["abort"]), (rb_y, rollback, COLORS["rollback"])):
        parts.append(
            f'<rect x="{side_x}" y="{y}" width="220" height="30" rx="4" fill="#fff7ed" '
            f'stroke="{color}" stroke-width="2"/><text x="{side_x + 8}" y="{y + 19}" '
            f'fill="{color}">{escape(text)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
