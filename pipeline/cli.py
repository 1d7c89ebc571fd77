"""The ``ganarena`` command: train, sweep, report, sample, evaluate, interpolate, ui, data prepare.

Heavy modules (torch, ray, mlflow) are imported inside each command, so ``--help`` and input
errors answer fast. Any user error is one line on stderr naming the field, and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import unicodedata
from pathlib import Path


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set loss.name=hinge (repeatable)")
    p.add_argument("--workdir", type=Path, default=None, help="runs folder (default $GANARENA_HOME or ./runs)")
    p.add_argument("--tracking-uri", default=None, help="MLflow URI (default sqlite:///<workdir>/mlflow.db)")
    p.add_argument("--address", default=None,
                   help="Ray cluster address (default: $RAY_ADDRESS, as inside `ray job submit`; else a local instance)")
    p.add_argument("--storage-path", default=None,
                   help="Ray checkpoint storage (shared FS or s3:// on clusters; default $GANARENA_STORAGE)")
    p.add_argument("--verbose", action="store_true", help="show Ray's own logs")
    p.add_argument("--feature-weights", default=None, metavar="FILE",
                   help="feature network for image metrics (= --set eval.feature_weights=FILE): a CNN from "
                        "scripts/train_feature_net.py or an InceptionV3 weights file; needed for data without a "
                        "shipped one (your ImageFolder, CIFAR-10, ...)")
    p.add_argument("--features", default=None, metavar="NAME",
                   help="feature network by name (= --set eval.features=NAME): inception (the standard FID "
                        "InceptionV3, extra ganarena[inception]) or a shipped domain's CNN")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="ganarena", description="Train and compare GANs on Ray, tracked in MLflow.")
    sub = ap.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train one GAN (Ray Train, data-parallel)")
    t.add_argument("config")
    _common(t)
    t.add_argument("--workers", type=int, default=1)
    t.add_argument("--gpus-per-worker", type=float, default=0.0)
    t.add_argument("--cpus-per-worker", type=float, default=None)
    t.add_argument("--max-failures", type=int, default=2)
    t.add_argument("--name", default=None, help="run name; rerunning a name resumes it")
    t.add_argument("--experiment", default="ganarena-train")

    s = sub.add_parser("sweep", help="compare losses/penalties with Ray Tune + Optuna")
    s.add_argument("config")
    _common(s)
    s.add_argument("--trials", type=int, default=None)
    s.add_argument("--seeds", type=int, default=None)
    s.add_argument("--name", default=None)
    s.add_argument("--resume", action="store_true", help="finish an interrupted sweep of the same name")

    r = sub.add_parser("report", help="(re)write the comparison report of a sweep")
    r.add_argument("sweep", help="sweep name or parent run id")
    r.add_argument("--workdir", type=Path, default=None)
    r.add_argument("--tracking-uri", default=None)
    r.add_argument("--out", type=Path, default=None)

    for cmd, text in (("sample", "write samples of a trained generator"), ("evaluate", "print its metrics")):
        c = sub.add_parser(cmd, help=text)
        c.add_argument("source", help="MLflow run id or checkpoint file")
        c.add_argument("--which", choices=["best", "latest"], default="best")
        c.add_argument("--n", type=int, default=None)
        c.add_argument("--workdir", type=Path, default=None)
        c.add_argument("--tracking-uri", default=None)
        if cmd == "sample":
            c.add_argument("--out", type=Path, required=True, help=".png (images/toy), .npy (toy) or .txt (text)")
            c.add_argument("--class", dest="label", type=int, default=None, metavar="K",
                           help="class K of a conditional generator (default: every class, one per grid row)")
        else:
            c.add_argument("--feature-weights", default=None, metavar="FILE",
                           help="feature network for image metrics (default: the run's eval.feature_weights)")
            c.add_argument("--features", default=None, metavar="NAME",
                           help="feature network by name: inception (standard FID) or a shipped domain's CNN")

    i = sub.add_parser("interpolate", help="a grid walking between latent points (and classes) of a generator")
    i.add_argument("source", help="MLflow run id or name, or checkpoint file")
    i.add_argument("--out", type=Path, required=True, help=".png grid (one walk per row) or .npy")
    i.add_argument("--steps", type=int, default=8, help="points per walk, both ends included")
    i.add_argument("--rows", type=int, default=8, help="walks")
    i.add_argument("--slerp", action="store_true", help="spherical instead of linear interpolation")
    i.add_argument("--seed", type=int, default=None, help="seed of the end points (default: the run's)")
    i.add_argument("--which", choices=["best", "latest"], default="best")
    i.add_argument("--workdir", type=Path, default=None)
    i.add_argument("--tracking-uri", default=None)

    u = sub.add_parser("ui", help="MLflow UI on 127.0.0.1 for the project's tracking URI")
    u.add_argument("--host", default="127.0.0.1")
    u.add_argument("--port", type=int, default=5000)
    u.add_argument("--workers", type=int, default=1, help="MLflow server processes (default 1: a local UI)")
    u.add_argument("--workdir", type=Path, default=None)
    u.add_argument("--tracking-uri", default=None)

    d = sub.add_parser("data", help="dataset tools")
    dsub = d.add_subparsers(dest="data_command", required=True)
    dp = dsub.add_parser("prepare", help="write a dataset as Parquet shards (for Ray Data)")
    dp.add_argument("dataset")
    dp.add_argument("--out", type=Path, required=True)
    dp.add_argument("--shard-size", type=int, default=10_000)
    dp.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="data field, e.g. --set root=/data/mnist")
    dp.add_argument("--overwrite", action="store_true")
    return ap


def _workdir(args: argparse.Namespace) -> Path:
    from pipeline.tracking import default_workdir

    return (args.workdir or default_workdir()).resolve()


def _with_feature_weights(args: argparse.Namespace) -> list[str]:
    """The --set overrides, with --feature-weights as the override it stands for."""
    extra = [f"eval.feature_weights={args.feature_weights}"] if args.feature_weights else []
    extra += [f"eval.features={args.features}"] if args.features else []
    return list(args.overrides) + extra


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from gan_core.errors import GanConfigError

    try:
        return COMMANDS[args.command](args)
    except GanConfigError as e:  # one line, even when it quotes a damaged file's bytes
        print(f"ganarena {args.command}: error: {printable(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def printable(text: str) -> str:
    """``text`` with control characters (newlines, escapes, NUL) written as \\xNN: an error stays one line."""
    return "".join(f"\\x{ord(c):02x}" if unicodedata.category(c) == "Cc" else c for c in text)


def _run_name(args: argparse.Namespace, exp) -> str:
    """--name, else the config's ``name``; checked before anything starts."""
    from pipeline.names import check_name

    return check_name("--name", args.name) if args.name is not None else check_name("name", exp.gan.name)


def cmd_train(args: argparse.Namespace) -> int:
    from pipeline.experiment import load_experiment
    from pipeline.train import Placement, train

    exp = load_experiment(args.config, _with_feature_weights(args))
    placement = Placement(args.workers, args.gpus_per_worker, args.cpus_per_worker, args.storage_path,
                          args.max_failures)
    name = _run_name(args, exp)
    out = train(exp.gan, name, _workdir(args), placement, args.address, args.tracking_uri, args.experiment,
                args.verbose)
    metrics = {k: v for k, v in out["metrics"].items() if isinstance(v, int | float)}
    print(f"[ganarena] {name}: {out['status']} - MLflow run {out['run_id']} at {out['tracking_uri']}")
    print("[ganarena] final metrics: " + ", ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items())))
    print("[ganarena] browse: ganarena ui" + (f" --workdir {args.workdir}" if args.workdir else ""))
    return 0 if out["status"] == "FINISHED" else 1


def cmd_sweep(args: argparse.Namespace) -> int:
    from pipeline.experiment import load_experiment
    from pipeline.sweep import sweep

    overrides = _with_feature_weights(args)
    if args.trials is not None:
        overrides.append(f"sweep.trials={args.trials}")
    if args.seeds is not None:
        overrides.append(f"sweep.seeds={args.seeds}")
    exp = load_experiment(args.config, overrides)
    out = sweep(exp, _run_name(args, exp), _workdir(args), args.address, args.tracking_uri,
                args.storage_path, args.resume, args.verbose)
    print(out["table"])
    print(f"\n[ganarena] report: {out['report_dir']}/report.md (and report.html, trials.parquet)")
    print(f"[ganarena] MLflow parent run {out['parent_run_id']}; browse with: ganarena ui"
          + (f" --workdir {args.workdir}" if args.workdir else ""))
    if out["champion"]:
        print(f"[ganarena] the winner's generator is registered as {out['champion']} "
              f"(ganarena sample {out['champion']} --out grid.png)")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from pipeline.report import report_command

    out = report_command(args.sweep, _workdir(args), args.tracking_uri, args.out)
    print(out["table"])
    print(f"\n[ganarena] report written to {out['report_dir']}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from pipeline.inspect import sample_command

    print(sample_command(args.source, args.out, args.n, args.which, _workdir(args), args.tracking_uri, args.label))
    return 0


def cmd_interpolate(args: argparse.Namespace) -> int:
    from pipeline.interpolate import interpolate_command

    print(interpolate_command(args.source, args.out, args.steps, args.rows, args.slerp, args.which, _workdir(args),
                              args.tracking_uri, args.seed))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from pipeline.inspect import evaluate_command

    print(evaluate_command(args.source, args.n, args.which, _workdir(args), args.tracking_uri, args.feature_weights,
                           args.features))
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    from pipeline.tracking import resolve_tracking_uri

    uri = resolve_tracking_uri(args.tracking_uri, _workdir(args))
    if args.workers < 1:
        from gan_core.errors import GanConfigError

        raise GanConfigError("--workers", f"must be >= 1, got {args.workers}")
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).exists():
        from gan_core.errors import GanConfigError

        raise GanConfigError("--workdir", f"no MLflow database at {uri}; run `ganarena train` or `sweep` first")
    from pipeline.tracking import ui_link

    base = f"http://{args.host}:{args.port}"
    print(f"[ganarena] MLflow UI for {uri} on {base}", flush=True)
    # MLflow 3.17 opens an experiment in its GenAI view unless told otherwise (per browser); these links open
    # the training runs with the primary metric, loss, penalty and cost columns (pipeline.tracking.ui_view_tags)
    from mlflow.tracking import MlflowClient

    for exp in MlflowClient(uri).search_experiments():
        if exp.name != "Default":
            print(f"[ganarena]   {exp.name}: {ui_link(base, exp.experiment_id)}", flush=True)
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    exe = str(mlflow_bin) if mlflow_bin.exists() else "mlflow"
    # One server process (MLflow's default is 4): uvicorn's multi-process supervisor kills a worker that does not
    # answer its 5 s health ping, which on a loaded 2-core machine became a restart loop that never served.
    os.execv(exe, [exe, "ui", "--backend-store-uri", uri, "--host", args.host, "--port", str(args.port),
                   "--workers", str(args.workers)])
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from gan_core.config import DataConfig, apply_overrides, from_dict
    from gan_core.data import build_dataset
    from gan_core.data.parquet import write_shards

    data = apply_overrides({"name": args.dataset}, args.overrides)
    cfg = from_dict(DataConfig, data, "data")
    ds = build_dataset(cfg)
    paths = write_shards(ds, args.out, args.shard_size, overwrite=args.overwrite)
    print(f"[ganarena] wrote {len(ds)} samples of {ds.name} {tuple(ds.shape)} as {len(paths)} shard(s) in {args.out}")
    return 0


COMMANDS = {"train": cmd_train, "sweep": cmd_sweep, "report": cmd_report, "sample": cmd_sample,
            "evaluate": cmd_evaluate, "interpolate": cmd_interpolate, "ui": cmd_ui, "data": cmd_data}

if __name__ == "__main__":
    sys.exit(main())
