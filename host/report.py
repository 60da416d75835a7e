"""The evaluation's report: report.json, report.csv, report.md and PNG plots, and the README block.

`build_report` turns an EvalResult into one JSON-able dict; everything else (tables, plots, the
README block) is drawn from that dict alone, so a report folder can be re-rendered or copied into
the README without running the evaluation again:

    python -m melodypair.host.report readme README.md --report out/eval --figures docs/figures

rewrites only the block between `<!-- eval:begin -->` and `<!-- eval:end -->`.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import platform
import shutil
import sys
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from melodypair.shared.errors import MelodypairError

SUCCESS_TARGET = 0.95
CLEAN_TARGET = 0.99
BEGIN_MARK = "<!-- eval:begin -->"
END_MARK = "<!-- eval:end -->"
HEADLINE_PLOT = "success_vs_snr.png"
ROOM_PLOT = "success_vs_snr_by_room.png"
CONFUSION_PLOT = "confusion_learned.png"
TIME_PLOT = "time_to_pair.png"
_PACKAGES = (
    "melodypair",
    "numpy",
    "scipy",
    "ai-edge-litert",
    "reedsolo",
    "spake2",
    "cryptography",
    "librosa",
    "ggwave",
    "matplotlib",
    "tqdm",
)


def held_out_noises() -> dict[str, str]:
    """Noise families the recognizer never trained on, and how."""
    from melodypair.host.channel import MUSIC
    from melodypair.host.dataset import HELD_OUT_NOISES

    return {**{n: "held out of training" for n in HELD_OUT_NOISES}, MUSIC: "never in training"}


def held_out_timbres() -> tuple[str, ...]:
    from melodypair.host.dataset import HELD_OUT_TIMBRES

    return HELD_OUT_TIMBRES


class ReportError(MelodypairError):
    """A report folder or the README cannot be read or updated."""


# ---------------------------------------------------------------- numbers


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a success rate (sensible at 0 and 100%, unlike p +- 2 sd)."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _median(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.median(values)) if values else None


def _r(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(float(x), digits)


def _group_row(records) -> dict:
    """Figures of a group of trial records (one decoder)."""
    n = len(records)
    paired = sum(r.paired for r in records)
    lo, hi = wilson_interval(paired, n)
    devices = [d for r in records for d in r.devices]
    modem = devices[0].note_errors is None
    notes_played = sum(d.notes_played or 0 for d in devices)
    accepted = [d for d in devices if d.data is not None]
    decode_s = sum(d.decode_s for d in devices)
    audio_s = sum(d.audio_s for d in devices)
    return {
        "trials": n,
        "pairing_success": _r(paired / n),
        "ci95_low": _r(lo),
        "ci95_high": _r(hi),
        "melody_exact": _r(sum(d.exact for d in devices) / len(devices)),
        "note_error_rate": None
        if modem
        else _r(sum(d.note_errors for d in devices) / notes_played),
        "notes_corrected": None if modem else _r(_mean(d.corrected for d in accepted)),
        "wrong_melody": _r(sum(d.wrong for d in devices) / len(devices)),
        "time_to_pair_s": _r(_median(r.time_to_pair_s for r in records), 3),
        "time_on_air_s": _r(_mean(r.on_air_s for r in records), 3),
        "decode_rtf": _r(decode_s / audio_s if audio_s else None, 5),
    }


def condition_rows(result) -> list[dict]:
    """One row per decoder and sweep point."""
    groups = defaultdict(list)
    for r in result.records:
        groups[(r.point, r.decoder)].append(r)
    order = {name: i for i, name in enumerate(result.decoders)}
    rows = []
    for (point_index, decoder), records in sorted(
        groups.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 99))
    ):
        point = result.sweep.points[point_index]
        measured = [r.snr_measured_db for r in records if math.isfinite(r.snr_measured_db)]
        rows.append(
            {
                "decoder": decoder,
                "noise": point.noise,
                "snr_db": point.snr_db,
                "room": point.room.name,
                "rt60_s": point.room.rt60_s,
                "held_out": held_out_noises().get(point.noise, ""),
                **_group_row(records),
                "snr_measured_db": _r(_mean(measured), 2),
            }
        )
    return rows


def pooled_rows(rows: list[dict]) -> list[dict]:
    """Rows pooled over rooms: (decoder, noise, snr) -> trials and pairing success."""
    acc: dict[tuple, list[float]] = defaultdict(lambda: [0, 0.0])
    for row in rows:
        key = (row["decoder"], row["noise"], row["snr_db"])
        acc[key][0] += row["trials"]
        acc[key][1] += row["pairing_success"] * row["trials"]
    out = []
    for (decoder, noise, snr), (n, k) in acc.items():
        k = round(k)
        lo, hi = wilson_interval(k, n)
        out.append(
            {
                "decoder": decoder,
                "noise": noise,
                "snr_db": snr,
                "trials": n,
                "pairing_success": _r(k / n),
                "ci95_low": _r(lo),
                "ci95_high": _r(hi),
            }
        )
    return out


def holds_down_to(pooled: list[dict], decoder: str, noise: str) -> float | None:
    """Lowest swept SNR from which up every swept SNR pairs >= 95% (None: not even the top)."""
    points = sorted(
        (r["snr_db"], r["pairing_success"])
        for r in pooled
        if r["decoder"] == decoder and r["noise"] == noise and r["snr_db"] is not None
    )
    best = None
    for snr, success in reversed(points):
        if success < SUCCESS_TARGET:
            break
        best = snr
    return best


def headline(pooled: list[dict], decoders: list[str]) -> list[dict]:
    """Per noise: down to which SNR each decoder keeps >= 95% pairing success."""
    noises = sorted({r["noise"] for r in pooled if r["snr_db"] is not None})
    return [
        {
            "noise": noise,
            "held_out": held_out_noises().get(noise, ""),
            "holds_95_down_to_db": {d: holds_down_to(pooled, d, noise) for d in decoders},
        }
        for noise in noises
    ]


def timbre_rows(result) -> list[dict]:
    """Pairing success per decoder and timbre, over every sweep point."""
    groups = defaultdict(list)
    for r in result.records:
        if r.devices[0].note_errors is not None:  # melodies only: a modem has no timbre
            groups[(r.decoder, r.timbre)].append(r)
    rows = []
    for (decoder, timbre), records in sorted(groups.items()):
        k, n = sum(r.paired for r in records), len(records)
        lo, hi = wilson_interval(k, n)
        rows.append(
            {
                "decoder": decoder,
                "timbre": timbre,
                "held_out": timbre in held_out_timbres(),
                "trials": n,
                "pairing_success": _r(k / n),
                "ci95_low": _r(lo),
                "ci95_high": _r(hi),
            }
        )
    return rows


def modem_rows(result) -> list[dict]:
    """Melody vs modem: success in a quiet dry room (clean), quiet reverberant rooms and over all
    noisy points, wrong accepts, time on air and to pair."""
    out = []
    for decoder in result.decoders:
        mine = [r for r in result.records if r.decoder == decoder]
        groups = defaultdict(list)
        for r in mine:
            point = result.sweep.points[r.point]
            kind = (
                "noisy"
                if point.snr_db is not None
                else "clean"
                if point.room.rt60_s == 0
                else "reverb"
            )
            groups[kind].append(r.paired)
        devices = [d for r in mine for d in r.devices]
        out.append(
            {
                "decoder": decoder,
                "time_on_air_s": _r(_mean(r.on_air_s for r in mine), 3),
                **{
                    f"{kind}_success": _r(sum(groups[kind]) / len(groups[kind]))
                    if groups[kind]
                    else None
                    for kind in ("clean", "reverb", "noisy")
                },
                "wrong_accepted": _r(sum(d.wrong for d in devices) / len(devices)),
                "median_time_to_pair_s": _r(_median(r.time_to_pair_s for r in mine), 3),
                "decode_rtf": _r(
                    sum(d.decode_s for d in devices) / sum(d.audio_s for d in devices), 5
                ),
            }
        )
    return out


def package_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def summaries(rows: list[dict], decoders: list[str]) -> dict:
    """What the per-condition rows imply: rows pooled over rooms and the headlines."""
    pooled = pooled_rows(rows)
    return {
        "headline": headline(pooled, decoders),
        "headline_by_room": {
            room: headline([r for r in rows if r["room"] == room], decoders)
            for room in dict.fromkeys(r["room"] for r in rows)
        },
        "pooled": pooled,
    }


def build_report(result) -> dict:
    """Everything the report files show, as one JSON-able dict."""
    from melodypair.host.channel import SNR_DEFINITION

    rows = condition_rows(result)
    decoders = list(result.decoders)
    quiet = {d: _quiet_success(result, d) for d in decoders}
    from melodypair.host.evaluate import melody_false_accepts

    fa = melody_false_accepts(result.false_accepts)
    learned_clean = quiet.get("learned", {}).get("dry")
    return {
        "sweep": result.sweep.name,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seed": result.options.seed,
        "workers": result.options.workers,
        "elapsed_s": round(result.elapsed_s, 1),
        "trials": result.sweep.total_trials,
        "model_sha256": result.model.get("sha256"),
        "model": result.model,
        "snr_definition": _snr_text(SNR_DEFINITION),
        "time_to_pair_definition": (
            "time on air (first to last active sample) + the slower device's CPU time to decode "
            "its whole recording + the protocol's CPU time per side, run in memory (no link "
            "latency); the median over paired trials"
        ),
        "decoders": decoders,
        "skipped": result.skipped,
        "package_versions": package_versions(),
        "false_accept_trials": fa.trials,
        "false_accepts": fa.accepts,
        "false_accepts_one_sided": fa.one_sided,
        "false_accepts_by_decoder": {
            name: {"trials": f.trials, "accepts": f.accepts, "one_sided": f.one_sided}
            for name, f in result.false_accepts.items()
        },
        "checks": {
            "clean_pairing_learned": learned_clean,
            "clean_ok": learned_clean is not None and learned_clean >= CLEAN_TARGET,
            "false_accepts_ok": fa.accepts == 0 and fa.one_sided == 0,
        },
        **summaries(rows, decoders),
        "quiet_success": quiet,
        "modem_comparison": modem_rows(result),
        "conditions": rows,
        "timbres": timbre_rows(result),
        "confusion": {
            name: {
                "labels": [*_note_names(), "none"],
                "counts": matrix.tolist(),
            }
            for name, matrix in result.confusion.items()
        },
        "time_to_pair_samples_s": {
            d: [
                round(r.time_to_pair_s, 3)
                for r in result.records
                if r.decoder == d and r.time_to_pair_s is not None
            ]
            for d in decoders
        },
    }


def _quiet_success(result, decoder: str) -> dict[str, float]:
    """Pairing success in the quiet rooms, per room."""
    groups = defaultdict(list)
    for r in result.records:
        point = result.sweep.points[r.point]
        if r.decoder == decoder and point.snr_db is None:
            groups[point.room.name].append(r.paired)
    return {room: _r(sum(v) / len(v)) for room, v in groups.items()}


def _snr_text(text: str) -> str:
    return " ".join(text.split())


def _note_names() -> list[str]:
    from melodypair.shared.alphabet import DEFAULT_ALPHABET

    return list(DEFAULT_ALPHABET.names)


# ---------------------------------------------------------------- tables


def percent(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def _db(x: float | None) -> str:
    return "below 95% at every SNR" if x is None else f"{x:+g} dB"


def headline_table(report: dict, entries: list[dict] | None = None) -> str:
    """Per noise, down to which SNR each decoder pairs >= 95% (rooms pooled unless `entries`)."""
    decoders = report["decoders"]
    lines = [
        "| noise | " + " | ".join(decoders) + " |",
        "|---|" + "---:|" * len(decoders),
    ]
    for h in report["headline"] if entries is None else entries:
        noise = h["noise"] + (f" ({h['held_out']})" if h["held_out"] else "")
        cells = [_db(h["holds_95_down_to_db"].get(d)) for d in decoders]
        lines.append(f"| {noise} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def modem_table(report: dict) -> str:
    lines = [
        "| decoder | on air | quiet dry room | quiet reverberant rooms | all noisy points | "
        "wrong accepted | median time to pair | decode RTF |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in report["modem_comparison"]:
        lines.append(
            f"| {m['decoder']} | {m['time_on_air_s']:.2f} s | {percent(m['clean_success'])} | "
            f"{percent(m['reverb_success'])} | {percent(m['noisy_success'])} | "
            f"{percent(m['wrong_accepted'])} | {_fmt_s(m['median_time_to_pair_s'])} | "
            f"{m['decode_rtf']:.4f} |"
        )
    return "\n".join(lines)


def _fmt_s(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f} s"


def condition_table(report: dict) -> str:
    """Pairing success per condition, decoders side by side, with 95% intervals."""
    decoders = report["decoders"]
    by = {(r["decoder"], r["noise"], r["snr_db"], r["room"]): r for r in report["conditions"]}
    keys = []
    for r in report["conditions"]:
        k = (r["noise"], r["snr_db"], r["room"])
        if k not in keys:
            keys.append(k)
    lines = [
        "| noise | SNR dB | room | trials | " + " | ".join(decoders) + " |",
        "|---|---:|---|---:|" + "---:|" * len(decoders),
    ]
    for noise, snr, room in keys:
        cells = []
        trials = 0
        for d in decoders:
            r = by.get((d, noise, snr, room))
            if r is None:
                cells.append("-")
                continue
            trials = r["trials"]
            interval = f"{percent(r['ci95_low'])}-{percent(r['ci95_high'])}"
            cells.append(f"{percent(r['pairing_success'])} ({interval})")
        snr_text = "quiet" if snr is None else f"{snr:g}"
        lines.append(f"| {noise} | {snr_text} | {room} | {trials} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def detail_table(report: dict, decoder: str) -> str:
    """Every figure of one decoder per condition."""
    lines = [
        "| noise | SNR dB | room | paired | exact | note errors | corrected | wrong | "
        "time to pair | RTF |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["conditions"]:
        if r["decoder"] != decoder:
            continue
        snr_text = "quiet" if r["snr_db"] is None else f"{r['snr_db']:g}"
        ner = "-" if r["note_error_rate"] is None else f"{100 * r['note_error_rate']:.1f}%"
        corr = "-" if r["notes_corrected"] is None else f"{r['notes_corrected']:.2f}"
        lines.append(
            f"| {r['noise']} | {snr_text} | {r['room']} | {percent(r['pairing_success'])} | "
            f"{percent(r['melody_exact'])} | {ner} | {corr} | {percent(r['wrong_melody'])} | "
            f"{_fmt_s(r['time_to_pair_s'])} | {r['decode_rtf']:.4f} |"
        )
    return "\n".join(lines)


def timbre_table(report: dict) -> str:
    decoders = [d for d in report["decoders"] if any(r["decoder"] == d for r in report["timbres"])]
    timbres = sorted({r["timbre"] for r in report["timbres"]})
    by = {(r["decoder"], r["timbre"]): r for r in report["timbres"]}
    lines = [
        "| timbre | " + " | ".join(decoders) + " |",
        "|---|" + "---:|" * len(decoders),
    ]
    for t in timbres:
        name = t + (" (held out of training)" if t in held_out_timbres() else "")
        cells = [percent(by[(d, t)]["pairing_success"]) if (d, t) in by else "-" for d in decoders]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _room_headlines(report: dict) -> str:
    return "".join(
        f"### Room: {room}\n\n{headline_table(report, entries)}\n\n"
        for room, entries in report.get("headline_by_room", {}).items()
    )


def false_accept_table(report: dict) -> str:
    """Per decoder: false-accept trials, pairings, one-sided (ggwave's are a finding about the
    peer, not checked)."""
    rows = report.get("false_accepts_by_decoder") or {
        "all decoders": {  # a report from before the counts were kept per decoder
            "trials": report["false_accept_trials"],
            "accepts": report["false_accepts"],
            "one_sided": report["false_accepts_one_sided"],
        }
    }
    lines = ["| decoder | trials | paired | one side only |", "|---|---|---|---|"]
    order = {name: i for i, name in enumerate(report.get("decoders", []))}
    lines += [
        f"| {name} | {f['trials']} | {f['accepts']} | {f['one_sided']} |"
        for name, f in sorted(rows.items(), key=lambda kv: order.get(kv[0], len(order)))
    ]
    return "\n".join(lines)


def render_markdown(report: dict) -> str:
    fa = report["false_accepts"]
    skipped = "".join(f"- {name}: {why}\n" for name, why in report["skipped"].items())
    checks = report["checks"]
    model = report.get("model") or {}
    return f"""# melodypair evaluation ({report["sweep"]} sweep)

{report["trials"]} trials, seed {report["seed"]}, {report["workers"]} workers, \
{report["elapsed_s"]:.0f} s; model `{model.get("name", "-")}` sha256 \
`{report["model_sha256"]}`; created {report["created"]}.

A trial: one fresh pairing melody (40 secret bits) played once; two devices each hear it through
their own room position, noise segment, microphone colouring, clock drift (up to +-200 ppm) and
capture rate; each decodes it, the melody code corrects what it can, and the two run the real
pairing protocol in memory. Success = both store the same key. Every melody decoder hears the same
audio and goes through the same melody finder; ggwave sends the same 40 bits through the same
device channels.

**SNR**: {report["snr_definition"]}.

**Time to pair**: {report["time_to_pair_definition"]}.

{skipped and "Skipped:" + chr(10) + chr(10) + skipped}
## Headline: down to which SNR pairing succeeds >= 95% (rooms pooled)

{headline_table(report)}

{_room_headlines(report)}
## Melody or modem

{modem_table(report)}

## False accepts

Two devices of one decoder that accepted passwords in trials with different melodies, paired
through the protocol. Melody decoders: {fa} of {report["false_accept_trials"]} paired (one side
only: {report["false_accepts_one_sided"]}); this is the checked figure.

{false_accept_table(report)}

Sanity: learned decoder pairs {percent(checks["clean_pairing_learned"])} in a quiet dry room \
(target >= {CLEAN_TARGET:.0%}): {"ok" if checks["clean_ok"] else "FAILED"}; false accepts: \
{"ok" if checks["false_accepts_ok"] else "FAILED"}.

## Pairing success per condition (95% Wilson interval)

{condition_table(report)}

## Learned decoder, every figure

{detail_table(report, "learned") if "learned" in report["decoders"] else "(not run)"}

## By timbre (all points)

{timbre_table(report)}

Plots: `{HEADLINE_PLOT}`, `{ROOM_PLOT}`, `{CONFUSION_PLOT}`, `{TIME_PLOT}`.
"""


def render_csv(report: dict) -> str:
    rows = report["conditions"]
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue()


# ---------------------------------------------------------------- plots


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


_STYLE = {
    "learned": {"color": "#1f4e9c", "linewidth": 2.6, "marker": "o"},
    "stft": {"color": "#d9822b", "marker": "s"},
    "pyin": {"color": "#3b9c4b", "marker": "^"},
}


def _style(decoder: str) -> dict:
    if decoder in _STYLE:
        return _STYLE[decoder]
    greys = {"MT_FASTEST": "#7a3b9c", "MT_NORMAL": "#b0479a", "AUDIBLE_FAST": "#888888"}
    return {"color": greys.get(decoder.split(":")[-1], "#555555"), "marker": "x", "linestyle": "--"}


def plot_success_vs_snr(report: dict, path: Path) -> None:
    """Pairing success vs SNR, one panel per noise type, one line per decoder (rooms pooled)."""
    plt = _pyplot()
    noises = [h["noise"] for h in report["headline"]]
    cols = min(3, max(1, len(noises)))
    rows = max(1, math.ceil(len(noises) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows), squeeze=False)
    for ax, noise in zip(axes.flat, noises, strict=False):
        for decoder in report["decoders"]:
            pts = sorted(
                (r["snr_db"], r["pairing_success"], r["ci95_low"], r["ci95_high"])
                for r in report["pooled"]
                if r["decoder"] == decoder and r["noise"] == noise and r["snr_db"] is not None
            )
            if not pts:
                continue
            snr, success, lo, hi = (np.array(v, dtype=float) for v in zip(*pts, strict=True))
            style = _style(decoder)
            ax.plot(snr, 100 * success, label=decoder, markersize=4, **style)
            if decoder == "learned":
                ax.fill_between(snr, 100 * lo, 100 * hi, color=style["color"], alpha=0.15)
        ax.axhline(100 * SUCCESS_TARGET, color="black", linewidth=0.8, linestyle=":")
        held = held_out_noises().get(noise)
        ax.set_title(noise + (f" ({held})" if held else ""), fontsize=11)
        ax.set_ylim(-3, 103)
        ax.set_xlabel("SNR (dB)")
        ax.set_ylabel("pairing success (%)")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(noises) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), frameon=False)
    fig.suptitle(
        "Two devices pairing by melody: success vs SNR (rooms pooled; band = 95% CI of learned)",
        fontsize=12,
    )
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_success_by_room(report: dict, path: Path) -> None:
    """Pairing success vs SNR, one row of panels per room, one column per noise type."""
    plt = _pyplot()
    noises = [h["noise"] for h in report["headline"]]
    rooms = list(report.get("headline_by_room", {}))
    if not noises or not rooms:
        return
    fig, axes = plt.subplots(
        len(rooms),
        len(noises),
        figsize=(3.2 * len(noises), 2.7 * len(rooms)),
        squeeze=False,
        sharex=True,
        sharey=True,
    )
    for i, room in enumerate(rooms):
        for j, noise in enumerate(noises):
            ax = axes[i, j]
            for decoder in report["decoders"]:
                pts = sorted(
                    (r["snr_db"], r["pairing_success"])
                    for r in report["conditions"]
                    if r["decoder"] == decoder
                    and r["noise"] == noise
                    and r["room"] == room
                    and r["snr_db"] is not None
                )
                if pts:
                    snr, success = (np.array(v, dtype=float) for v in zip(*pts, strict=True))
                    ax.plot(snr, 100 * success, label=decoder, markersize=3, **_style(decoder))
            ax.axhline(100 * SUCCESS_TARGET, color="black", linewidth=0.8, linestyle=":")
            ax.set_ylim(-3, 103)
            ax.grid(alpha=0.3)
            if i == 0:
                ax.set_title(noise, fontsize=10)
            if j == 0:
                ax.set_ylabel(f"{room}\nsuccess (%)")
            if i == len(rooms) - 1:
                ax.set_xlabel("SNR (dB)")
    legend: dict = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    if legend:
        fig.legend(
            list(legend.values()),
            list(legend),
            loc="lower center",
            ncol=min(6, len(legend)),
            frameon=False,
        )
    fig.suptitle("Pairing success vs SNR per room and noise type", fontsize=12)
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_confusion(report: dict, path: Path, decoder: str = "learned") -> None:
    """Played vs heard notes (rows normalized), 'none' = a note missed or one heard extra."""
    plt = _pyplot()
    data = report["confusion"][decoder]
    counts = np.array(data["counts"], dtype=float)
    labels = data["labels"]
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    fig, ax = plt.subplots(figsize=(8.2, 7.2))
    image = ax.imshow(100 * share, cmap="Blues", vmin=0, vmax=100)
    ax.set_xticks(range(len(labels)), labels, rotation=90)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("heard")
    ax.set_ylabel("played")
    for i in range(len(labels)):
        for j in range(len(labels)):
            if counts[i, j] > 0 and (i != j or share[i, j] < 0.995):
                ax.text(
                    j,
                    i,
                    f"{100 * share[i, j]:.0f}" if share[i, j] >= 0.005 else "·",
                    ha="center",
                    va="center",
                    fontsize=6.5,
                    color="white" if share[i, j] > 0.6 else "black",
                )
    fig.colorbar(image, ax=ax, label="% of the row", fraction=0.046)
    ax.set_title(f"Note confusion, {decoder} decoder, every condition ({int(counts.sum())} notes)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_time_to_pair(report: dict, path: Path) -> None:
    """Distribution of time to pair over paired trials, per decoder."""
    plt = _pyplot()
    samples = {d: v for d, v in report["time_to_pair_samples_s"].items() if v}
    fig, ax = plt.subplots(figsize=(8.0, 4.4))
    if samples:
        top = max(max(v) for v in samples.values())
        bins = np.linspace(0.0, top * 1.02 + 0.05, 60)
        for decoder, values in samples.items():
            style = _style(decoder)
            ax.hist(
                values,
                bins=bins,
                histtype="step",
                linewidth=1.8,
                color=style["color"],
                label=f"{decoder} (median {np.median(values):.2f} s, n={len(values)})",
            )
        ax.legend(fontsize=8, loc="upper left")
    ax.set_xlabel("time to pair (s): on air + decode + exchange")
    ax.set_ylabel("paired trials")
    ax.set_title("Time to pair")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------- files


def write_report(report: dict, out_dir: str | Path) -> list[Path]:
    """report.json, report.csv, report.md and the PNG plots in `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (
        ("report.json", json.dumps(report, indent=1) + "\n"),
        ("report.csv", render_csv(report)),
        ("report.md", render_markdown(report)),
    ):
        path = out / name
        _write_text(path, text)
        written.append(path)
    plot_success_vs_snr(report, out / HEADLINE_PLOT)
    written.append(out / HEADLINE_PLOT)
    if report["headline"] and report.get("headline_by_room"):
        plot_success_by_room(report, out / ROOM_PLOT)
        written.append(out / ROOM_PLOT)
    if "learned" in report["confusion"]:
        plot_confusion(report, out / CONFUSION_PLOT)
        written.append(out / CONFUSION_PLOT)
    plot_time_to_pair(report, out / TIME_PLOT)
    written.append(out / TIME_PLOT)
    return written


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def load_report(report_dir: str | Path) -> dict:
    path = Path(report_dir) / "report.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(
            f"{path} does not exist; run `melodypair evaluate --out {report_dir}` first"
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ReportError(f"{path} is not a valid report ({err})") from None


def readme_block(report: dict, image: str) -> str:
    """The text between the README markers: the headline plot and tables."""
    model = (report.get("model_sha256") or "-")[:12]
    return (
        f"![Pairing success vs SNR per noise type]({image})\n\n"
        "Lowest SNR from which up pairing succeeds in at least 95% of trials, rooms pooled:\n\n"
        f"{headline_table(report)}\n\n"
        f"{_dry_headline(report)}"
        f"{modem_table(report)}\n\n"
        "False accepts: two devices of one decoder that accepted passwords in trials with\n"
        "different melodies, run through the protocol (the melody decoders' must stay at 0):\n\n"
        f"{false_accept_table(report)}\n\n"
        f"_Generated by `make eval` from the {report['sweep']} sweep "
        f"({report['trials']} trials, seed {report['seed']}, model `{model}`, "
        f"{report['created'][:10]}). SNR: {report['snr_definition']}._\n"
    )


def _dry_headline(report: dict) -> str:
    dry = report.get("headline_by_room", {}).get("dry")
    return f"In a dry room:\n\n{headline_table(report, dry)}\n\n" if dry else ""


def update_readme(readme: str | Path, report_dir: str | Path, figures_dir: str | Path) -> Path:
    """Copy the headline plot into `figures_dir` and rewrite only the README's marked block."""
    readme, figures = Path(readme), Path(figures_dir)
    report = load_report(report_dir)
    try:
        text = readme.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"{readme} does not exist") from None
    begin, end = text.find(BEGIN_MARK), text.find(END_MARK)
    if begin < 0 or end < 0 or end < begin or text.count(BEGIN_MARK) != 1:
        raise ReportError(
            f"{readme} needs exactly one '{BEGIN_MARK}' followed by '{END_MARK}'; "
            "add them where the evaluation belongs"
        )
    source = Path(report_dir) / HEADLINE_PLOT
    if not source.is_file():
        raise ReportError(f"{source} does not exist; run the evaluation again")
    figures.mkdir(parents=True, exist_ok=True)
    target = figures / f"eval_{HEADLINE_PLOT}"
    shutil.copyfile(source, target)
    image = Path(os.path.relpath(target, readme.parent)).as_posix()
    block = f"{BEGIN_MARK}\n{readme_block(report, image)}{END_MARK}"
    _write_text(readme, text[:begin] + block + text[end + len(END_MARK) :])
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m melodypair.host.report",
        description="Re-render an evaluation report folder, or copy its headline into the README.",
    )
    sub = parser.add_subparsers(dest="action", required=True)
    readme = sub.add_parser("readme", help="copy the headline plot and rewrite the README block")
    readme.add_argument("readme", type=Path, help="README.md with the eval markers")
    readme.add_argument("--report", type=Path, default=Path("out/eval"))
    readme.add_argument("--figures", type=Path, default=Path("docs/figures"))
    render = sub.add_parser("render", help="rewrite report.md/csv and the plots from report.json")
    render.add_argument("report", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.action == "readme":
            target = update_readme(args.readme, args.report, args.figures)
            print(f"updated {args.readme} (figure {target})")
        else:
            data = load_report(args.report)
            data.update(summaries(data["conditions"], data["decoders"]))
            for path in write_report(data, args.report):
                print(f"wrote {path}")
    except MelodypairError as err:
        print(f"melodypair: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
