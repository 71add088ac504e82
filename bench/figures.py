"""Wall time of `make figures` from an empty run cache, and of a rerun with nothing changed. A plain script, not a test:
prints JSON, then one summary line.

    .venv/bin/python bench/figures.py [--profile default] [--figdir build/bench-figures] [--device cpu]
    .venv/bin/python bench/figures.py --from-cache paper_figures [--results-dir results]

The first run uses a fresh, empty results folder (`EEARLY_RESULTS`) and writes the figures into `--figdir` (not into
paper_figures/, so the committed figures stay as they are); the second run repeats the command, which should find
every figure up to date (Make) and every run cached. Goals for the default profile: ≤ 60 min, and ≤ 10 s
for the rerun.
The notebooks use a GPU when they see one: `--device cpu` (the default) hides any (`CUDA_VISIBLE_DEVICES=''`),
`--device cuda` leaves it visible.

`--from-cache FIGDIR` trains nothing: when the cold run is out of reach, it sums what the figures in FIGDIR measured:
the training seconds of every run their JSONs list (and the runs at the first cap that `cap_raised` names; each run
once; a phase 1 read from the shared cache not counted), plus each figure's own wall time (made from the cache, that is
its analysis and plotting). The training seconds are those of the worker that trained the run, whatever else shared
the cores then, so this is an estimate from measured parts, not a timing of `make figures`.
"""
from __future__ import annotations
import argparse, json, os, platform, shutil, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_figures(profile, figdir, env) -> float:
    t = time.perf_counter()
    subprocess.run(['make', 'figures', f'PROFILE={profile}', f'FIGDIR={figdir}'], cwd=ROOT, env=env, check=True)
    return time.perf_counter() - t


def from_cache(figdir: Path, results: Path) -> dict:
    "Measured parts of `make figures`: per figure, the training seconds of the runs it lists that no earlier figure listed, and its wall time."
    seen, out = set(), {}
    for p in sorted(figdir.glob('*.json')):
        meta = json.loads(p.read_text())
        if 'wall_time_s' not in meta: continue  # not a figure (rerun.json, convergence.json)
        listed = (meta.get('runs') or []) + [c['run'] for c in meta.get('cap_raised') or []]  # a raised cap trained the run at the first cap too
        new = [r for r in dict.fromkeys(listed) if r not in seen]
        seen.update(new)
        missing = [r for r in new if not (results/r/'metrics.json').exists()]
        train = sum(ph['seconds'] for r in new if r not in missing for ph in json.loads((results/r/'metrics.json').read_text())['phases'] if not ph.get('reused'))
        out[p.stem] = dict(runs=len(new), train_s=round(train), figure_s=meta['wall_time_s'], runs_not_cached=len(missing))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--from-cache', metavar='FIGDIR', help='train nothing: sum the measured parts of the figures in FIGDIR (see the docstring)')
    ap.add_argument('--results-dir', default='results', help='with --from-cache: the run cache the figures were made from')
    ap.add_argument('--profile', default='default')
    ap.add_argument('--figdir', default='build/bench-figures', help='where the figures go (emptied first)')
    ap.add_argument('--device', default='cpu', choices=['cpu', 'cuda'], help='cpu hides the GPU from the notebooks')
    args = ap.parse_args()
    if args.from_cache:
        parts = from_cache(ROOT/args.from_cache, ROOT/args.results_dir)
        train, figs = sum(v['train_s'] for v in parts.values()), sum(v['figure_s'] for v in parts.values())
        missing = sum(v['runs_not_cached'] for v in parts.values())
        print(json.dumps(dict(figures=parts, train_s=train, figure_s=round(figs), runs=sum(v['runs'] for v in parts.values()), runs_not_cached=missing), indent=1))
        print(f"make figures from an empty cache, from measured parts: {train / 3600:.1f} h of training on one worker "
              f"(≈ {train / 7200:.1f} h on two), plus {figs / 60:.1f} min of analysis and plotting" + (f'; {missing} runs not in the cache' if missing else ''))
        return
    figdir = ROOT/args.figdir
    shutil.rmtree(figdir, ignore_errors=True)
    cache = Path(tempfile.mkdtemp(prefix='eearly-bench-results-'))
    env = dict(os.environ, EEARLY_RESULTS=str(cache), **({'CUDA_VISIBLE_DEVICES': ''} if args.device == 'cpu' else {}))
    try:
        cold = make_figures(args.profile, args.figdir, env)
        warm = make_figures(args.profile, args.figdir, env)
        per_figure = {p.stem: json.loads(p.read_text()).get('wall_time_s') for p in sorted(figdir.glob('*.json'))}
    finally: shutil.rmtree(cache, ignore_errors=True)
    res = dict(profile=args.profile, device=args.device, machine=f'{platform.machine()}, {os.cpu_count()} cores', python=platform.python_version(),
               cold_s=round(cold, 1), rerun_s=round(warm, 1), per_figure_s=per_figure, figures=len(per_figure))
    print(json.dumps(res, indent=1))
    print(f"make figures PROFILE={args.profile}: {cold / 60:.1f} min from an empty cache ({len(per_figure)} figures; goal ≤ 60 min), "
          f"rerun with nothing changed {warm:.1f} s (goal ≤ 10 s)")


if __name__ == '__main__': sys.exit(main())
