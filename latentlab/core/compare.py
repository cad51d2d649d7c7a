"""Two runs side by side: their final test -ELBO parts and NLL as a table, their loss curves as one PNG.

The picture is drawn with Pillow (a dependency already) rather than matplotlib, which
latentlab does not depend on; it only needs lines, dots, ticks and a legend.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from .checkpoint import Checkpoint, atomic_write


@dataclass(frozen=True)
class RunSummary:
    """What the table shows of one run; the test numbers are None before its first test evaluation."""

    name: str
    epoch: int
    step: int
    recon: float | None
    kl: float | None
    neg_elbo: float | None
    test_epoch: int | None  # the epoch of the last test row, which a mid-epoch stop leaves behind the checkpoint
    nll: float | None
    iw_samples: int | None


def summarise(run: Checkpoint, name: str | None = None) -> RunSummary:
    last = run.history.get("epochs", [])[-1:] or [None]
    row = last[0]
    ev = run.evaluation or {}
    return RunSummary(
        name=name or run.run_dir.name,
        epoch=run.epoch,
        step=run.step,
        recon=float(row["recon"]) if row else None,
        kl=float(row["kl"]) if row else None,
        neg_elbo=float(row["total"]) if row else None,
        test_epoch=int(row["epoch"]) if row else None,
        nll=float(ev["nll"]) if "nll" in ev else None,
        iw_samples=int(ev["iw_samples"]) if "iw_samples" in ev else None,
    )


def run_names(a: Path, b: Path) -> tuple[str, str]:
    """The folders' names, with their parents where the names alone are the same."""
    if a.name != b.name:
        return a.name, b.name
    return f"{a.parent.name}/{a.name}", f"{b.parent.name}/{b.name}"


def format_table(a: RunSummary, b: RunSummary) -> str:
    """An aligned table, nats per image, with a B - A column; then a line per run still lacking its NLL."""

    def number(v: float | None) -> str:
        return "—" if v is None else f"{v:.3f}"

    def nll(s: RunSummary) -> str:
        return "not computed" if s.nll is None else f"{s.nll:.3f} (K={s.iw_samples})"

    def diff(x: float | None, y: float | None) -> str:
        return "" if x is None or y is None else f"{y - x:+.3f}"

    rows = [
        ("", f"A: {a.name}", f"B: {b.name}", "B - A"),
        ("", f"epoch {a.epoch}, step {a.step}", f"epoch {b.epoch}, step {b.step}", ""),
        ("test reconstruction", number(a.recon), number(b.recon), diff(a.recon, b.recon)),
        ("test KL", number(a.kl), number(b.kl), diff(a.kl, b.kl)),
        ("test -ELBO", number(a.neg_elbo), number(b.neg_elbo), diff(a.neg_elbo, b.neg_elbo)),
        ("test NLL", nll(a), nll(b), diff(a.nll, b.nll)),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths))).rstrip()
             for r in rows]
    lines.append("nats per image; the test rows are each run's last test evaluation.")
    for label, s in (("A", a), ("B", b)):
        if s.test_epoch is None:
            lines.append(f"{label} ({s.name}) has no test evaluation yet; train it for an epoch.")
        elif s.test_epoch != s.epoch:
            lines.append(f"{label} ({s.name}): its last test evaluation is of epoch {s.test_epoch}, "
                         f"before the checkpoint (stopped mid-epoch).")
        if s.nll is None:
            lines.append(f"{label} ({s.name}): no NLL recorded for this checkpoint; run `latentlab evaluate` on it.")
    return "\n".join(lines)


# --- the picture --------------------------------------------------------------------------------------

COLOURS = ((31, 119, 180), (214, 39, 40))  # A blue, B red: apart for most colour vision too, with dashes for B
SIZE = (960, 600)
MARGIN = (80, 40, 30, 170)  # left, top, right, bottom (the legend sits below the axes)


@dataclass(frozen=True)
class Curve:
    label: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    colour: tuple[int, int, int]
    dashed: bool
    width: int
    dots: bool


def curves(histories: Sequence[tuple[str, Mapping[str, Sequence[Mapping[str, Any]]]]]) -> tuple[list[Curve], str]:
    """The -ELBO curves (test per epoch, train per logged step) of each run and the x axis' name.

    The x axis is epochs where every run has a test row to tell its steps per epoch (runs with
    other batch sizes line up then); otherwise optimizer steps.
    """
    def steps_per_epoch(history) -> float | None:
        rows = [r for r in history.get("epochs", []) if r["epoch"] > 0 and r["step"] > 0]
        return rows[0]["step"] / rows[0]["epoch"] if rows else None

    spes = [steps_per_epoch(h) for _, h in histories]
    by_epoch = all(s is not None for s in spes)
    out: list[Curve] = []
    for i, ((name, history), spe) in enumerate(zip(histories, spes)):
        tag, colour, dashed = "AB"[i], COLOURS[i % 2], i % 2 == 1
        test = history.get("epochs", [])
        train = history.get("steps", [])
        if train:
            xs = tuple(r["step"] / spe if by_epoch else float(r["step"]) for r in train)
            out.append(Curve(f"{tag}: {name} train -ELBO", xs, tuple(float(r["recon"]) + float(r["kl"]) for r in train),
                             tuple(c // 2 + 127 for c in colour), dashed, 1, False))
        if test:
            xs = tuple(float(r["epoch"]) if by_epoch else float(r["step"]) for r in test)
            out.append(Curve(f"{tag}: {name} test -ELBO", xs, tuple(float(r["total"]) for r in test), colour, dashed, 3, True))
    return out, "epoch" if by_epoch else "step"


def _ticks(low: float, high: float, n: int = 6) -> list[float]:
    span = max(high - low, 1e-9)
    raw = span / n
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 5, 10) if step * m >= raw)
    first = math.ceil(low / step) * step
    return [first + k * step for k in range(int((high - first) / step + 1e-9) + 1)]


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow before 10.1: one bitmap size
        return ImageFont.load_default()


def _polyline(draw, points: list[tuple[float, float]], colour, width: int, dashed: bool) -> None:
    if not dashed:
        draw.line(points, fill=colour, width=width, joint="curve")
        return
    on, off = 10.0, 6.0  # dash and gap in pixels, carried across the segments
    phase = 0.0
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        length = math.hypot(x1 - x0, y1 - y0)
        t = 0.0
        while t < length:
            in_dash = phase < on
            run = min((on - phase) if in_dash else (on + off - phase), length - t)
            if in_dash:
                a, b = t / length, (t + run) / length
                draw.line([(x0 + (x1 - x0) * a, y0 + (y1 - y0) * a), (x0 + (x1 - x0) * b, y0 + (y1 - y0) * b)],
                          fill=colour, width=width)
            t += run
            phase = (phase + run) % (on + off)


def render_curves(histories: Sequence[tuple[str, Mapping[str, Sequence[Mapping[str, Any]]]]]) -> bytes:
    """PNG bytes: every run's -ELBO curves on shared axes, A solid and B dashed, with a legend."""
    from PIL import Image, ImageDraw

    lines, x_name = curves(histories)
    image = Image.new("RGB", SIZE, "white")
    draw = ImageDraw.Draw(image)
    font, small = _font(15), _font(13)
    left, top, right, bottom = MARGIN
    w, h = SIZE[0] - left - right, SIZE[1] - top - bottom
    xs = [x for c in lines for x in c.xs]
    # The first train windows (hundreds of nats) would flatten everything after: the y range
    # follows the test curves where there are some, and what leaves it is clipped at the frame.
    test_ys = [y for c in lines if c.dots for y in c.ys]
    all_ys = [y for c in lines for y in c.ys]
    ys = test_ys or all_ys
    if not xs:
        draw.text((left, top + h // 2), "Neither run has a loss history yet.", fill="black", font=font)
    else:
        x0, x1 = min(0.0, min(xs)), max(xs) or 1.0
        x1 += (x1 - x0) * 0.02  # room for the last dots
        y0, y1 = min(min(all_ys), min(ys)), max(ys)
        pad = max((y1 - y0) * 0.08, 1e-3)
        y0, y1 = y0 - pad, y1 + pad
        plot = Image.new("RGB", (w, h), "white")  # drawn apart, so lines past the range are clipped by its edges
        pd = ImageDraw.Draw(plot)

        def at(x: float, y: float) -> tuple[float, float]:
            return (x - x0) / (x1 - x0 or 1) * (w - 1), (y1 - y) / (y1 - y0) * (h - 1)

        for t in _ticks(y0, y1):
            pd.line([at(x0, t), at(x1, t)], fill=(232, 232, 232))
        for c in lines:
            pts = [at(x, y) for x, y in zip(c.xs, c.ys)]
            if len(pts) > 1:
                _polyline(pd, pts, c.colour, c.width, c.dashed)
            if c.dots:
                for px, py in pts:
                    pd.ellipse([px - 4, py - 4, px + 4, py + 4], fill=c.colour if not c.dashed else "white",
                               outline=c.colour, width=2)
        image.paste(plot, (left, top))
        draw.rectangle([left - 1, top - 1, left + w, top + h], outline="black")
        for t in _ticks(y0, y1):
            py = top + at(x0, t)[1]
            draw.line([(left - 5, py), (left - 1, py)], fill="black")
            draw.text((left - 8, py), f"{t:g}", fill="black", font=small, anchor="rm")
        for t in _ticks(x0, x1):
            px = left + at(t, y0)[0]
            draw.line([(px, top + h), (px, top + h + 5)], fill="black")
            draw.text((px, top + h + 8), f"{t:g}", fill="black", font=small, anchor="mt")
        draw.text((left + w // 2, top + h + 28), x_name, fill="black", font=font, anchor="mt")
        draw.text((left, top - 10), "-ELBO, nats per image", fill="black", font=font, anchor="lb")
    for i, c in enumerate(lines):  # the legend, one row per curve
        ly = top + h + 56 + i * 24
        _polyline(draw, [(left, ly), (left + 50, ly)], c.colour, c.width, c.dashed)
        if c.dots:
            draw.ellipse([left + 21, ly - 4, left + 29, ly + 4], fill=c.colour if not c.dashed else "white",
                         outline=c.colour, width=2)
        draw.text((left + 62, ly), c.label, fill="black", font=font, anchor="lm")
    buf = io.BytesIO()
    image.save(buf, format="png")
    return buf.getvalue()


def write_curves_png(path: Path, histories: Sequence[tuple[str, Mapping[str, Sequence[Mapping[str, Any]]]]]) -> None:
    atomic_write(path, render_curves(histories))
