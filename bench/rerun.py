"""Do the verdicts survive a rerun? Makes a profile's figures again from an empty run cache with another number of torch
threads (default 1: it changes the float reduction order, as another machine would), then compares them with the
committed ones (`eearly.report.compare_figures`). A plain script, not a test: prints JSON, then one summary line.

    .venv/bin/python bench/rerun.py [--profile default] [--threads 1] [--figures tab_budget fig_acc_vs_flops ...]
                                    [--against paper_figures] [--figdir build/rerun-<profile>-<threads>t] [--results DIR]
                                    [--compare-only] [--out paper_figures/rerun.json] [--scope TEXT]

`--figures` makes only those figures (default: every figure of the profile); when the full profile costs too much, pick
the figures whose verdicts sit closest to their CI boundary: `--closest K` makes the figures of the K findings of
`--against` nearest to a verdict boundary (`eearly.report.closest_findings`; it prints them first). The fresh run
cache is `--results` (default: a new folder under build/), so nothing is read from `results/`. Pick a thread count the
committed runs were not trained with: the runs behind the committed default figures (2026-11-29) were trained on two
1-thread workers, so rerun those with `--threads 2` (a run's metrics do not record its thread count). `--compare-only` makes nothing and compares the figures
already in `--figdir` (a rerun that was stopped, or figures made there by hand with papermill). `--out` writes the JSON;
as `<fig_dir>/rerun.json` (or `rerun-<what>.json`: one file per check, so a check of other figures made on another day
stands beside the first) it puts the check on the results page, and each flipped finding says so; `--scope` says what
of its figures a check covers when not all of them (figures made by hand with papermill and `-p cells`, say). Goal: no verdict flips. The summary names the largest
change of a headline number, the largest change of a finding's measured effect, and every flipped verdict.
"""
from __future__ import annotations
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path
from eearly.report import closest_findings, compare_figures
from eearly.io import write_json

ROOT = Path(__file__).resolve().parents[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--profile', default='default')
    ap.add_argument('--threads', type=int, default=1, help='torch threads of the rerun (OMP_NUM_THREADS)')
    ap.add_argument('--figures', nargs='*', default=None, help='figure names (default: all of the profile)')
    ap.add_argument('--against', default='paper_figures', help='the folder of the figures to compare with')
    ap.add_argument('--figdir', default=None, help='where the rerun figures go (default: build/rerun-<profile>-<threads>t)')
    ap.add_argument('--results', default=None, help='the rerun\'s run cache (default: a new folder under build/)')
    ap.add_argument('--closest', type=int, default=None, help='make the figures of the K findings nearest to a verdict boundary')
    ap.add_argument('--compare-only', action='store_true', help='make nothing: compare the figures already in --figdir')
    ap.add_argument('--out', default=None, help='also write the JSON here (e.g. paper_figures/rerun.json: the results page shows it)')
    ap.add_argument('--scope', default=None, help='what of the figures the check covers, when not all of them (shown on the results page)')
    args = ap.parse_args()
    if args.threads < 1: sys.exit(f'--threads: must be ≥ 1, got {args.threads}')
    if args.closest is not None:
        if args.figures: sys.exit('--closest: picks the figures itself; give it or --figures, not both')
        if args.closest < 1: sys.exit(f'--closest: must be ≥ 1, got {args.closest}')
        near = closest_findings(ROOT/args.against).head(args.closest)
        print(near.to_string(), file=sys.stderr)
        args.figures = list(dict.fromkeys(near.figure))
    figdir = args.figdir or f'build/rerun-{args.profile}-{args.threads}t'
    (ROOT/'build').mkdir(exist_ok=True)
    results, wall = args.results, None
    if not args.compare_only:
        results = results or tempfile.mkdtemp(prefix='rerun-results-', dir=ROOT/'build')
        env = dict(os.environ, EEARLY_RESULTS=str(Path(results).resolve()), OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
        targets = [f'{figdir}/{f}.json' for f in args.figures] if args.figures else ['figures']
        started = time.perf_counter()
        subprocess.run(['make', *targets, f'PROFILE={args.profile}', f'FIGDIR={figdir}'], cwd=ROOT, env=env, check=True)
        wall = time.perf_counter() - started
    found, head = compare_figures(ROOT/args.against, ROOT/figdir)
    flips = found[found.flipped]
    effect = (found.effect_b - found.effect_a).abs()
    res = dict(profile=args.profile, threads=args.threads, scope=args.scope, figdir=figdir, against=args.against, results=results and str(results), wall_s=wall and round(wall, 1),
               figures=sorted(found.figure.unique()), n_findings=len(found), flipped=flips.to_dict('records'), headline=head.to_dict('records'),
               max_headline_change=None if head.empty else head.iloc[0].to_dict(),
               max_effect_change=None if effect.dropna().empty else found.loc[effect.idxmax()].to_dict())
    print(json.dumps(res, indent=1, default=str))
    if args.out: write_json(ROOT/args.out, res)
    top = res['max_headline_change']
    big = res['max_effect_change']
    print(f"rerun of {args.profile} with {args.threads} thread(s){'' if wall is None else f', {wall / 60:.1f} min'}: "
          + (f"largest headline change {top['change']:+.3g} ({top['figure']}: {top['key']}); " if top else 'no numeric headline in both; ')
          + (f"largest effect change {big['effect_b'] - big['effect_a']:+.3g} ({big['figure']}: {big['claim']}); " if big else '')
          + f"{len(flips)} of {len(found)} verdicts flipped" + (': ' + '; '.join(f"{r.figure}: {r.claim} ({r.verdict_a} → {r.verdict_b})" for r in flips.itertuples()) if len(flips) else ''))


if __name__ == '__main__': main()
