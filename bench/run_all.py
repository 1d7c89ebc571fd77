"""`make bench`: run the benchmark suite, then write bench/results/summary.md and docs/performance.md.

    .venv/bin/python -m bench.run_all [--quick] [--only sweep_overhead ...] [--skip quality ...] [--summary-only]

Each benchmark is its own subprocess writing bench/results/<name>.json; the summary is built from
whatever JSON files exist (a figure whose benchmark was not run keeps its last result, with the
load and commit it was measured at). ``--quick`` runs reduced settings and says so in the JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from bench.common import REPO, RESULTS
from bench.summary import render, update_page

ORACLE = REPO.parent / "shared" / "data" / "seqgan_oracle.npz"
SUITE = {  # name -> (full args, quick args); None = not run in that mode
    "train_overhead": (["-m", "bench.train_overhead"], ["-m", "bench.train_overhead", "--repeats", "1"]),
    "sweep_overhead": (["-m", "bench.sweep_overhead", "--repeats", "3"],
                       ["-m", "bench.sweep_overhead", "--repeats", "1"]),
    "data_path": (["-m", "bench.data_path"], ["-m", "bench.data_path", "--repeats", "3", "--epochs", "1",
                                              "--steps", "20"]),
    "quality": (["-m", "bench.quality", "--mnist-minutes", "5"],
                ["-m", "bench.quality", "--pairs", "ns+r1", "hinge+r1", "--seeds", "3", "--minutes", "2",
                 "--workers", "3"]),
    "image_quality": (["-m", "bench.image_quality"], None),
    "text_oracle": (["bench/text_oracle.py", str(ORACLE), "--out", str(RESULTS / "text_oracle.json")], None),
    "text_coco": (["bench/text_coco.py", "--out", str(RESULTS / "text_coco.json")], None),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="reduced settings (minutes, not hours)")
    ap.add_argument("--only", nargs="*", default=None, choices=list(SUITE))
    ap.add_argument("--skip", nargs="*", default=[], choices=list(SUITE))
    ap.add_argument("--summary-only", action="store_true", help="only rebuild summary.md and docs/performance.md")
    args = ap.parse_args()
    failed = []
    if not args.summary_only:
        for name, (full, quick) in SUITE.items():
            argv = quick if args.quick else full
            if name in args.skip or (args.only is not None and name not in args.only) or argv is None:
                print(f"[bench] {name}: skipped (keeps {RESULTS / (name + '.json')} if present)", flush=True)
                continue
            t = time.time()
            print(f"[bench] {name}: {' '.join(argv)}", flush=True)
            rc = subprocess.run([sys.executable, *argv], cwd=REPO, check=False).returncode
            print(f"[bench] {name}: exit {rc} after {time.time() - t:.0f} s", flush=True)
            if rc != 0:
                failed.append(name)
            elif args.quick:
                _mark_quick(name, argv)
    results = {p.stem: json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))}
    md = render(results)
    (RESULTS / "summary.md").write_text(md)
    update_page(REPO / "docs" / "performance.md", md)
    print(md)
    if failed:
        print(f"[bench] failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _mark_quick(name: str, argv: list[str]) -> None:
    path = RESULTS / f"{name}.json"
    if path.exists():
        data = json.loads(path.read_text())
        data["suite_mode"] = "quick: " + " ".join(argv)
        path.write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
