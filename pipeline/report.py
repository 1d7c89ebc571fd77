"""The comparison report of a sweep, built from MLflow (the source of truth) after or apart from the sweep.

Writes trials.parquet (one row per trial), report.md and report.html (ranking by the quality metric
as mean ± 95% CI over seeds with ties flagged, plots, best samples, the protocol) and logs them to
the sweep's parent run.
"""

from __future__ import annotations

import html
import math
import re
import statistics
from pathlib import Path
from typing import Any

from gan_core.errors import GanConfigError
from pipeline import runs
from pipeline.cost import cost_markdown
from pipeline.pareto import pareto_section
from pipeline.pbt import lineage_markdown

PARAM_COLUMNS = {"penalty_weight": "penalty.weight", "lr_g": "optim.lr_g", "lr_d": "optim.lr_d",
                 "n_critic": "train.n_critic", "seed": "seed", "steps": "train.steps"}


def collect(client: Any, exp_id: str, parent_id: str, metric: str) -> list[dict[str, Any]]:
    """One row per child run of the parent: config, phase, status, final and best quality."""
    rows = []
    for r in runs.children(client, exp_id, parent_id):
        t, p, m = r.data.tags, r.data.params, r.data.metrics
        row = {"run_id": r.info.run_id, "name": t.get("mlflow.runName", ""), "phase": t.get(runs.PHASE, ""),
               "config": t.get(runs.CONFIG_LABEL, ""), "loss": t.get("loss", ""),
               "penalty": t.get("penalty", ""), "status": t.get(runs.STATUS, r.info.status.lower()),
               "reason": t.get(runs.REASON, ""), "seed_index": int(t.get(runs.SEED_INDEX, -1)),
               "trial_id": t.get(runs.TRIAL_ID, ""),
               metric: m.get(metric, math.nan), f"best_{metric}": m.get(f"best_{metric}", math.nan)}
        for col, key in PARAM_COLUMNS.items():
            row[col] = float(p[key]) if key in p else math.nan
        for k, v in m.items():
            row.setdefault(k, v)
        rows.append(row)
    return sorted(rows, key=lambda r: (r["phase"] != "search", r["config"], r["seed_index"]))


def t_quantile(df: int) -> float:
    """Two-sided 95% Student-t quantile."""
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def rank(rows: list[dict[str, Any]], metric: str, mode: str, prefix: str = "best") -> list[dict[str, Any]]:
    """Seed runs grouped by configuration: mean ± 95% CI of ``<prefix>_<metric>`` (the best checkpoint's
    metric, or the final evaluation's), ties flagged."""
    key = f"{prefix}_{metric}"
    groups: dict[str, list[float]] = {}
    for r in rows:
        if r["phase"] == "seed" and r["status"] == "completed" and math.isfinite(r.get(key, math.nan)):
            groups.setdefault(r["config"], []).append(r[key])
    table = []
    for cfg, vals in groups.items():
        n = len(vals)
        mean = statistics.fmean(vals)
        ci = t_quantile(n - 1) * statistics.stdev(vals) / math.sqrt(n) if n > 1 else math.inf
        table.append({"config": cfg, "n": n, "mean": mean, "ci95": ci, "low": mean - ci, "high": mean + ci})
    table.sort(key=lambda g: -g["mean"] if mode == "max" else g["mean"])
    if table:
        best = table[0]
        for g in table:
            g["tie_with_best"] = g is not best and g["low"] <= best["high"] and g["high"] >= best["low"]
    return table


def markdown_table(table: list[dict[str, Any]], metric: str, mode: str, prefix: str = "best") -> str:
    """The ranking as a Markdown table."""
    arrow = "higher is better" if mode == "max" else "lower is better"
    lines = [f"| rank | configuration | {prefix} {metric} ({arrow}): mean ± 95% CI | seeds | note |",
             "|---:|---|---|---:|---|"]
    for i, g in enumerate(table, 1):
        note = "best" if i == 1 else ("tie with best (CIs overlap)" if g["tie_with_best"] else "")
        lines.append(f"| {i} | {g['config']} | {g['mean']:.4g} ± {g['ci95']:.2g} | {g['n']} | {note} |")
    return "\n".join(lines)


def _plots(client: Any, rows: list[dict[str, Any]], table: list[dict[str, Any]], metric: str, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    seed_rows = [r for r in rows if r["phase"] == "seed"]
    if seed_rows:
        fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
        by_cfg: dict[str, dict[int, list[float]]] = {}
        for r in seed_rows:
            for m in client.get_metric_history(r["run_id"], metric):
                by_cfg.setdefault(r["config"], {}).setdefault(m.step, []).append(m.value)
        for cfg, hist in sorted(by_cfg.items()):
            steps = sorted(hist)
            ax.plot(steps, [statistics.fmean(hist[s]) for s in steps], marker="o", ms=3, label=cfg)
        ax.set_xlabel("generator step")
        ax.set_ylabel(f"{metric} (mean over seeds)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "quality_vs_step.png")
        plt.close(fig)
        made.append("quality_vs_step.png")
    if table:
        fig, ax = plt.subplots(figsize=(6, 0.4 * len(table) + 1.5), dpi=100)
        ys = list(range(len(table)))[::-1]
        ax.errorbar([g["mean"] for g in table], ys, xerr=[0 if math.isinf(g["ci95"]) else g["ci95"] for g in table],
                    fmt="o", capsize=4)
        ax.set_yticks(ys, [g["config"] for g in table], fontsize=8)
        ax.set_xlabel(f"best {metric}: mean ± 95% CI over seeds")
        fig.tight_layout()
        fig.savefig(out / "final_quality.png")
        plt.close(fig)
        made.append("final_quality.png")
    return made


def _best_samples(client: Any, uri: str, rows: list[dict[str, Any]], metric: str, mode: str,
                  out: Path) -> list[str]:
    """For each loss, the newest sample picture of its best seed run (or best search trial)."""
    import os

    from mlflow.artifacts import download_artifacts

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

    key = f"best_{metric}"
    made = []
    for loss in sorted({r["loss"] for r in rows}):
        cands = [r for r in rows if r["loss"] == loss and math.isfinite(r[key])]
        cands.sort(key=lambda r: (r["phase"] != "seed", -r[key] if mode == "max" else r[key]))
        if not cands:
            continue
        arts = [a.path for a in client.list_artifacts(cands[0]["run_id"], "samples") if a.path.endswith(".png")]
        if not arts:
            continue
        local = download_artifacts(run_id=cands[0]["run_id"], artifact_path=max(arts), dst_path=str(out / "tmp"),
                                   tracking_uri=uri)  # not the ambient default URI
        name = f"samples_{loss}.png"
        Path(local).replace(out / name)
        made.append(name)
    return made


def write_report(uri: str, exp_id: str, parent_id: str, out: Path) -> dict[str, Any]:
    """Write trials.parquet, report.md, report.html and plots to ``out``; log them to the parent run."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq
    client = runs.client(uri)
    parent = client.get_run(parent_id)
    metric, mode = parent.data.tags.get(runs.METRIC, "modes_hq"), parent.data.tags.get(runs.MODE, "max")
    rows = collect(client, exp_id, parent_id, metric)
    out.mkdir(parents=True, exist_ok=True)
    cols = sorted({k for r in rows for k in r})
    pq.write_table(pa.table({c: [_cell(r.get(c)) for r in rows] for c in cols}), out / "trials.parquet")
    table = rank(rows, metric, mode)
    md_table = markdown_table(table, metric, mode) if table else "(no completed seed runs)"
    plots = _plots(client, rows, table, metric, out) + _best_samples(client, uri, rows, metric, mode, out)
    cost = parent.data.tags.get(runs.COST_OBJECTIVE)
    pareto_md, pareto_plots = pareto_section(rows, metric, mode, cost, out) if cost else ([], [])
    plots += pareto_plots
    lineage_md = lineage_markdown(client, rows, metric, mode) if parent.data.tags.get(runs.SCHEDULER, "asha") != "asha" \
        else []
    shutil.rmtree(out / "tmp", ignore_errors=True)
    protocol = {k[len("protocol."):]: v for r in runs.children(client, exp_id, parent_id, max_results=1)
                for k, v in r.data.tags.items() if k.startswith("protocol.")}
    final = rank(rows, metric, mode, "final")
    final_md: list[str] = []
    if final:
        scored = next(r for r in rows if math.isfinite(r.get(f"final_{metric}", math.nan)))
        tags = client.get_run(scored["run_id"]).data.tags
        intro = (f"Each seed re-run's final (EMA) generator scored once more when training ended "
                 f"(`eval.final_samples` / `eval.final_features`): **final {metric}**, mean ± 95% CI.")
        final_md = ["## Final evaluation", "", intro, "",
                    markdown_table(final, metric, mode, "final"), "",
                    *[f"- {k[len('final_protocol.'):]}: {v}" for k, v in sorted(tags.items())
                      if k.startswith("final_protocol.")], ""]
    status: dict[str, int] = {}
    for r in rows:
        status[f"{r['phase']}/{r['status']}"] = status.get(f"{r['phase']}/{r['status']}", 0) + 1
    md = [f"# Sweep report: {parent.data.tags.get(runs.NAME, parent_id)}", "",
          (f"Ranking by **best {metric}** (quality at each run's best evaluation; "
           f"{'higher' if mode == 'max' else 'lower'} is better), mean ± 95% Student-t confidence interval over "
           "seed re-runs of each loss's and each penalty's best search configuration. Rows whose interval overlaps "
           "the best one's are flagged as ties: the data cannot tell them apart."), "", md_table, "", *final_md,
          "## Protocol", "", *[f"- {k}: {v}" for k, v in sorted(protocol.items())],
          f"- trials: {', '.join(f'{k}: {v}' for k, v in sorted(status.items()))}", "", *cost_markdown(rows), *pareto_md,
          *lineage_md,
          "## Plots", "", *[f"![{p}]({p})" for p in plots], "",
          "## All trials", "", "See trials.parquet (one row per trial: config, phase, status, metrics)."]
    diverged = [r for r in rows if r["status"] == runs.DIVERGED]
    if diverged:
        md += ["", "## Diverged trials", "", *[f"- {r['name']}: {r['reason']}" for r in diverged]]
    (out / "report.md").write_text("\n".join(md) + "\n")
    (out / "report.html").write_text(_html("\n".join(md)))
    for f in sorted(out.iterdir()):
        client.log_artifact(parent_id, str(f), "report")
    client.set_tag(parent_id, runs.BEST_CONFIG, table[0]["config"] if table else "")
    return {"table": md_table, "report_dir": str(out), "ranking": table, "final_ranking": final, "rows": rows}


def _cell(v: Any) -> Any:
    return v if isinstance(v, int | float | str) or v is None else str(v)


def _html(md: str) -> str:
    """A minimal Markdown-to-HTML rendering for the report (tables, headings, images, lists)."""
    out, in_table = [], False
    for line in md.splitlines():
        if line.startswith("|"):
            cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-:"):
                continue
            out.append(("<table border='1' cellpadding='4'>" if not in_table else "") + "<tr>"
                       + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
            in_table = True
            continue
        if in_table:
            out.append("</table>")
            in_table = False
        m = re.match(r"!\[(.*)\]\((.*)\)", line)
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{html.escape(line.lstrip('#').strip())}</h{level}>")
        elif m:
            out.append(f"<p><img src='{html.escape(m.group(2))}' alt='{html.escape(m.group(1))}'></p>")
        elif line.startswith("- "):
            out.append(f"<li>{html.escape(line[2:])}</li>")
        elif line.strip():
            bold = re.sub(r"[*][*](.*?)[*][*]", r"<b>\1</b>", html.escape(line))
            out.append(f"<p>{bold}</p>")
    if in_table:
        out.append("</table>")
    return "<!doctype html><html><head><meta charset='utf-8'><title>GAN Arena report</title></head><body>" \
           + "\n".join(out) + "</body></html>\n"


def report_command(sweep: str, workdir: Path, tracking_uri: str | None, out: Path | None) -> dict[str, Any]:
    """``ganarena report NAME_OR_PARENT_RUN``: find the parent run and (re)write its report."""
    from pipeline.names import name_key
    from pipeline.tracking import database_missing, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri, workdir)
    if database_missing(uri):
        raise GanConfigError("sweep", f"no sweep named {sweep!r}: there is no MLflow database at {uri}",
                             "a sweep name or parent run id, with --workdir/--tracking-uri of that sweep")
    client = runs.client(uri)
    parent = runs.newest(client, runs.all_experiments(client),
                         [f"{runs.tag_is(runs.ROLE, 'parent')} and {f}" for f in runs.name_filters(sweep)])
    if parent is None and re.fullmatch(r"[0-9a-f]{32}", sweep):
        try:
            parent = client.get_run(sweep)
        except Exception:  # noqa: BLE001 - unknown run id
            parent = None
        if parent is not None and parent.data.tags.get(runs.ROLE) != "parent":  # a train run or a trial
            raise GanConfigError("sweep", f"run {sweep} is not a sweep (it is a "
                                 f"{parent.data.tags.get(runs.KIND, 'non-sweep')} run); a report needs a sweep",
                                 "a sweep name or the parent run id `ganarena sweep` printed")
    if parent is None:
        raise GanConfigError("sweep", f"no sweep named {sweep!r} (nor parent run id) in {uri}")
    name = parent.data.tags.get(runs.NAME, parent.info.run_id)
    return write_report(uri, parent.info.experiment_id, parent.info.run_id,
                        out or workdir / "reports" / name_key(name))
