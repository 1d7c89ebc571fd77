"""bench/results/*.json -> one markdown table (figure, value, min/median/max, target, protocol) and docs/performance.md."""

from __future__ import annotations

import re
import statistics
from pathlib import Path
from typing import Any

START, END = "<!-- perf:start -->", "<!-- perf:end -->"


def _mmm(s: dict[str, float] | None, fmt: str = "{:.3g}") -> str:
    if not s:
        return "-"
    return " / ".join(fmt.format(s[k]) for k in ("min", "median", "max")) + (f" (n={s['n']})" if "n" in s else "")


def _met(ok: bool | None) -> str:
    return "-" if ok is None else ("met" if ok else "**missed**")


def _load(r: dict[str, Any]) -> str:
    h = r.get("host", {})
    la = h.get("loadavg_start")
    code = h.get("commit", "")
    if h.get("uncommitted_code"):
        code += " + uncommitted " + ", ".join(h["uncommitted_code"])
    mode = f"; {r['suite_mode']}" if r.get("suite_mode") else ""
    return (f" [{h.get('cpus', '?')} CPUs, load {la[0]:.0f}" if la else " [") + (f", code {code}" if code else "") \
        + mode + "]"


def rows(results: dict[str, dict[str, Any]]) -> list[tuple[str, str, str, str, str, str]]:
    """(figure, value, min/median/max, target, met, protocol) for every result file present."""
    out = []
    if r := results.get("train_overhead"):
        for name, c in r.get("cases", {}).items():
            rp = c["ratio_per_pair"]
            out.append((f"Step overhead {name} (ganarena train / plain)", f"{rp['median']:.3f}", _mmm(rp), ">= 0.95",
                        _met(rp["median"] >= 0.95), f"{c['config']} {' '.join(c['overrides'])}; {r['method']}"
                        + _load(r)))
            first, init = c["start_to_first_step_s"]["median"], r["ray_init_alone_s"]["median"]
            out.append((f"Start-up {name}: first step - ray.init alone", f"{first - init:.1f} s",
                        _mmm(c["start_to_first_step_s"], "{:.1f}") + " s to first step", "<= 15 s more",
                        _met(first - init <= 15), f"ray.init alone median {init:.1f} s; same runs" + _load(r)))
    if r := results.get("sweep_overhead"):
        s = r["ratio_sweep_over_plain"]
        out.append(("Sweep wall time (ganarena sweep / plain Optuna loop)", f"{s['median']:.2f}", _mmm(s),
                    "<= 0.6", _met(s["median"] <= 0.6), r["protocol"] + _load(r)))
        if f := r.get("ratio_parallel_plain_over_plain"):
            out.append(("Sweep floor (plain loops run side by side, no Ray / plain Optuna loop)", f"{f['median']:.2f}",
                        _mmm(f), "-", "-", r["parallel_plain_definition"] + "; trial "
                        f"{r['parallel_plain_trial_minus_plain_trial_s']['median']:+.2f} s vs alone" + _load(r)))
        slots = r.get("host", {}).get("cpus", 2)  # trials run at once (1 CPU each)
        over = [(slots * (sw["search_wall_s"] - sw["start_to_first_trial_s"]) - sum(pl["trial_durations_s"]))
                / r["trials"] for sw, pl in zip(r["runs"]["sweep"], r["runs"]["plain"], strict=True)]
        o = {"min": min(over), "median": statistics.median(over), "max": max(over), "n": len(over)}
        out.append(("Sweep per-trial overhead", f"{o['median']:.2f} s", _mmm(o, "{:.2f}"), "-", "-",
                    f"({slots} trial slots x (search wall - start-up) - sum of the plain loop's trial times) / "
                    f"trials: what a trial costs the sweep beyond its training, idle slots at the end included; "
                    f"start-up (command start to first trial) {r['sweep_start_to_first_trial_s']['median']:.0f} s"
                    + _load(r)))
    for name in sorted(k for k in results if k.startswith("data_path")):
        r = results[name]
        q, st = r["ratio_materialized_over_consumption"], r["ratio_parquet_over_consumption"]
        path = r.get("pipeline_input", "materialized")
        out.append((f"Data path: Ray Data Parquet as `ganarena train` feeds it ({path}) / DCGAN consumption",
                    f"{q['median']:.0f}x", _mmm(q), ">= 3x", _met(q["median"] >= 3),
                    f"pipeline {r['parquet_materialized_samples_per_s']['median']:,.0f} samples/s; streamed (files "
                    f"re-read every epoch) {r['parquet_samples_per_s']['median']:,.0f} ({st['median']:.1f}x), each "
                    f"epoch's first batch after {r['parquet_s_to_first_batch_per_epoch']['median']:.1f} s; "
                    f"in-memory {r['memory_samples_per_s']['median']:,.0f}, DCGAN "
                    f"{r['dcgan_consumption_samples_per_s']['median']:,.0f}; " + r["protocol"] + _load(r)))
    if r := results.get("image_quality"):
        for ds, variants in r.get("summary", {}).items():
            target = r["target_ratio"][ds] * r["floor"][ds]
            named = [v for v in ("recipe", "no-aug", "old") if v in variants]
            for var in named + sorted(v for v in variants if v not in named):  # then the tried variants
                e = variants.get(var)
                if not e or "fd" not in e or (var not in named and len(e["fd"]["values"]) < 3):
                    continue
                fd = e["fd"]
                out.append((f"Image FD {ds} {var} ({r['budget_cpu_min'][ds]:g} CPU-min)",
                            f"{fd['mean']:.2f} ± {fd['ci95']:.2f} ({e['fd_over_floor']:.2f}x floor)",
                            " / ".join(f"{v:.3g}" for v in fd["values"]) + f" (n={len(fd['values'])})",
                            f"<= {target:.1f}" if var == "recipe" else "-",
                            _met(fd["mean"] <= target) if var == "recipe" else "-",
                            f"mean ± 95% CI over seeds; recall {e['recall']['mean']:.3f}, coverage "
                            f"{e['coverage']['mean']:.3f}; {r['protocol']}" + _load(r)))
    if r := results.get("quality"):
        for pair, e in r.get("grid25", {}).items():
            if "modes" not in e:
                out.append((f"grid25 {pair}", f"diverged {e['diverged']}/{e['seeds']}", "-", "-", "-", r["protocol"]))
                continue
            best = pair == r.get("best")
            met = r.get("target_met") if best else None
            out.append((f"grid25 {pair}: modes / % HQ" + (" (best)" if best else ""),
                        f"{e['modes']['mean']:.1f} / {e['hq_percent']['mean']:.1f}%",
                        _mmm(e["modes"], "{:.0f}") + " modes; " + _mmm(e["hq_percent"], "{:.1f}") + " % HQ",
                        ">= 24.5 / >= 93% (PacGAN4 24.8 / 93.6%, GAN 17.3 / 94.8%)", _met(met),
                        r["protocol"] + f"; diverged {e['diverged']}/{e['seeds']}; G steps "
                        f"{e['steps']['median']:.0f}" + _load(r)))
        for loss, e in r.get("mnist5k_fd", {}).items():
            if "fd" in e:
                out.append((f"mnist5k FD {loss}", f"{e['fd']['mean']:.2f}", _mmm(e["fd"]), "-", "-",
                            r["mnist5k_protocol"] + _load(r)))
    if r := results.get("text_oracle"):
        m, mle = r.get("gan_selected") or r["gan_final"], r["mle"]["1.0"]
        met = m["nll_oracle"] <= 8.0 and m["nll_test"] <= mle["nll_test"] + 0.5 and r["cpu_min_total"] <= 30.5
        temps = "; ".join(f"T={t} {v['nll_oracle']:.3f} / {v['nll_test']:.3f}" for t, v in r["mle"].items())
        fin = r["gan_final"]
        out.append(("Text: SeqGAN oracle NLL_oracle / NLL_test (GAN)", f"{m['nll_oracle']:.3f} / {m['nll_test']:.3f}",
                    f"final step {r['gan_steps']}: {fin['nll_oracle']:.3f} / {fin['nll_test']:.3f}",
                    "NLL_oracle <= 8.0, NLL_test <= MLE + 0.5, 30 CPU-min (published MLE 9.038, SeqGAN 8.736)",
                    _met(met),
                    (f"{' '.join(['configs/' + Path(r.get('config', '')).name, *r.get('overrides', [])])}; GAN selected at step "
                     f"{m.get('step', r['gan_steps'])} (lowest tracked NLL_oracle, 2,000 samples, among evaluations "
                     f"with NLL_test <= MLE + 0.5), scored on 10,000 fresh samples; MLE {temps}; "
                     f"{r['cpu_min_total']:.1f} CPU-min in all, 1 thread; bench/text_oracle.py")))
    else:
        out.append(("Text: SeqGAN oracle", "not run by this suite run", "-", "-", "-",
                    ("`python bench/text_oracle.py ../shared/data/seqgan_oracle.npz --out bench/results/text_oracle.json` "
                    "(30 CPU-min); measured numbers in docs/text.md")))
    if r := results.get("text_coco"):
        def bleus(m: dict[str, float]) -> str:
            return (" / ".join(f"{m[f'bleu{n}']:.3f}" for n in (2, 3, 4)) + " | "
                    + " / ".join(f"{m[f'self_bleu{n}']:.3f}" for n in (2, 3, 4)))
        rows_ = [("real held-out", r["heldout_vs_heldout"])] + [(f"MLE T={t}", m) for t, m in r["mle"].items()]
        if "gan_selected" in r:
            rows_.append((f"GAN step {r['gan_selected']['step']}", r["gan_selected"]))
        for label, m in rows_:
            out.append((f"Text: captions {label}: BLEU-2/3/4 | Self-BLEU-2/3/4", bleus(m), "-", "-", "-",
                        f"bigram JSD {m['ngram_jsd']:.4f}; bench/text_coco.py, " + r["protocol"].get("bleu", "")))
    if r := results.get("gpu"):
        where = f" [{r['host'].get('gpu')}, torch {r['host'].get('torch')}]"
        for name, m in r.get("models", {}).items():
            for v, e in m.items():
                if isinstance(e, dict) and "images_per_s" in e:
                    ratio = f" ({e['ratio_vs_fp32']['median']:.2f}x fp32)" if "ratio_vs_fp32" in e else ""
                    out.append((f"GPU {name} {v}", f"{e['images_per_s']['median']:,.0f} img/s{ratio}",
                                _mmm(e["images_per_s"], "{:,.0f}"), "-", "-",
                                f"batch {m['batch']}, {m.get('steps', '?')} steps; {r['protocol']}{where}"))
        if g := r.get("ray_train_1gpu"):
            out.append(("GPU: 1-GPU Ray Train / plain loop", f"{g['ratio']['median']:.3f}", _mmm(g["ratio"]), "-", "-",
                        g["protocol"] + where))
        else:
            out.append(("GPU: 1-GPU Ray Train / plain loop", "not measured in the recorded GPU run", "-", "-", "-",
                        "`bash bench/gpu.sh --skip-models --merge` on a GPU host"))
    else:
        out.append(("GPU figures", "not measured (no GPU in the run)", "-", "-", "-", "`bash bench/gpu.sh` on a GPU host"))
    out += fid_rows(results.get("fid_calibration"))
    return out


def fid_rows(r: dict[str, Any] | None) -> list[tuple[str, str, str, str, str, str]]:
    """The standard FID network: conversion check, CPU cost, Fashion-MNIST floor and damage curves."""
    if not r:
        return []
    out = []
    if c := r.get("conversion"):
        d = c["max_abs_feature_diff_vs_torchscript"]
        out.append(("FID InceptionV3: converted vs TorchScript features", f"max abs diff {d:.2g}", "-",
                    f"<= {c['tolerance']:g}", _met(d <= c["tolerance"]), c["probe"] + _load(r)))
    if c := r.get("cost"):
        out.append(("FID InceptionV3: CPU cost", f"{c['cpu_s_per_1000']:.0f} CPU-s / 1,000 images", "-", "-", "-",
                    f"28x28 grey -> 299x299, channels_last, batch 50, {c['threads']} thread(s), {c['images']} images"
                    + _load(r)))
    if f := r.get("fashionmnist_inception"):
        if "floor" in f:
            out.append(("Fashion-MNIST FID(train, test), standard FID", f"{f['floor']:.2f}", "-", "-", "-",
                        f"N = {f['protocol']['n_fake']} train vs {f['protocol']['n_real']} test images" + _load(r)))
        curves = "; ".join(f"{k} " + ", ".join(f"{s}: {v:.1f}" for s, v in f[k].items()) for k in ("noise", "blur") if f[k])
        if "levels_floor" in f:
            curves = f"undamaged {f['levels_floor']:.1f}; {curves}"
        if curves:
            out.append(("Fashion-MNIST FID under noise / blur", curves, "-", "monotone", _met(all(
                list(f[k].values()) == sorted(f[k].values()) for k in ("noise", "blur"))),
                f.get("protocol", {}).get("levels_fake", "") + _load(r)))
    return out


def render(results: dict[str, dict[str, Any]]) -> str:
    """The markdown table; cells are escaped so a protocol's `|` cannot break the table."""
    head = ["figure", "value (median)", "min / median / max", "target", "target met", "protocol"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows(results):
        lines.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in row) + " |")
    note = ("Generated by `python -m bench.run_all` from bench/results/*.json (do not edit by hand). Every ratio is "
            "two runs made back to back in one invocation; the 1-minute load average recorded with the run and the "
            "code measured are in brackets.\n\n")
    return note + "\n".join(lines) + "\n"


def update_page(page: Path, table: str) -> None:
    """Replace what is between the perf markers of ``page`` (appending them, or a new page, if missing)."""
    text = page.read_text() if page.exists() else "# Performance\n"
    block = f"{START}\n{table}\n{END}"
    if START in text and END in text:
        new = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: block, text, count=1, flags=re.DOTALL)
    else:
        new = text.rstrip("\n") + f"\n\n{block}\n"
    page.write_text(new)
