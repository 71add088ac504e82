"""Wall time of `make figures` from an empty run cache, and of a rerun with nothing changed. A plain script, not a test:
prints JSON, then one summary line.

    .venv/bin/python bench/figures.py [--profile default] [--figdir build/bench-figures] [--device cpu]

The first run uses a fresh, empty results folder (`EEARLY_RESULTS`) and writes the figures into `--figdir` (not into
paper_figures/, so the committed figures stay as they are); the second run repeats the command, which should find
every figure up to date (Make) and every run cached. Goals for the default profile: ≤ 30 min, and ≤ 10 s for the rerun.
The notebooks use a GPU when they see one: `--device cpu` (the default) hides any (`CUDA_VISIBLE_DEVICES=''`),
`--device cuda` leaves it visible.
"""
from __future__ import annotations
import argparse, json, os, platform, shutil, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_figures(profile, figdir, env) -> float:
    t = time.perf_counter()
    subprocess.run(['make', 'figures', f'PROFILE={profile}', f'FIGDIR={figdir}'], cwd=ROOT, env=env, check=True)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--profile', default='default')
    ap.add_argument('--figdir', default='build/bench-figures', help='where the figures go (emptied first)')
    ap.add_argument('--device', default='cpu', choices=['cpu', 'cuda'], help='cpu hides the GPU from the notebooks')
    args = ap.parse_args()
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
    print(f"make figures PROFILE={args.profile}: {cold / 60:.1f} min from an empty cache ({len(per_figure)} figures; goal ≤ 30 min), "
          f"rerun with nothing changed {warm:.1f} s (goal ≤ 10 s)")


if __name__ == '__main__': sys.exit(main())
