"""Convergence gap of a profile: one seed of each backbone × regime trained with `schedule='converge'` under the epoch
cap `--max-epochs`, then again with twice the cap. A run that had converged gains nothing from the larger cap; the goal
(the default profile's goal) is a gain of at most 0.5 pp of final-exit test accuracy. A plain script, not a test: prints JSON, then one
summary line, and writes the JSON to `--out` (the results page of `make figures` shows it when it lies in the figure
folder as `convergence.json`, or `convergence-<what>.json` for another check such as `--double patience`).

    .venv/bin/python bench/convergence.py [--profile default] [--backbones cnn vit_mini] [--regimes joint disjoint mixed]
                                          [--seed 0] [--results DIR] [--out FILE] [--quick]
                                          [--double cap|patience] [--dataset NAME] [--subset N] [--max-epochs N]
                                          [--patience N]

The runs are the profile's own: `eearly.grids.figure_params('fig_acc_vs_flops', profile)` gives the shared run
parameters (data, cap, patience, `min_delta`, batch, LR) and `run_params` turns them into the configs the figures ask
for (SDN, with the figures' tracking), so this check measures the runs the figures show and shares their cache.

Under `converge` the LR is constant until a validation plateau, then ÷10 (twice), and the next plateau ends the phase, so
a run none of whose phases reached the cap is the same run under twice the cap (bit-identical; tested in
`nbs/07_regimes.ipynb`): its gain is 0 by construction and only runs that hit the cap are retrained at twice the cap
(`trained_2x` in the JSON). The runs are ordinary cached runs (`eearly.runs.run_many`, default cache `results/`), so a figure that asks for the same
config reuses them, and a rerun of this script trains nothing. ViTs take the AdamW settings of
`eearly.grids.backbone_defaults`. `--quick`: digits, 2 and 4 epochs, patience 1 (a smoke test of the script).

`--double patience` checks the plateau itself: every run is retrained with twice the patience (under the same cap), since
on a small validation split a few epochs without a new best can be noise, not a plateau (`fig_suitability`'s small cells,
BENCHMARKS.md, 2026-11-30: `vit_mini` on digits gained up to 45 pp from patience 8). `--dataset`/`--subset` check another
data setting than the profile's shared runs (`fig_suitability`'s cells: `--dataset digits --subset 0`, or
`--subset 1000`). Such a check goes to its own `--out`, not to a figure folder's `convergence.json`. A doubled-patience run
that reaches the cap (`capped_2x`) says little: give that check a larger cap with `--max-epochs` (the probe used 240).
`--patience` starts from another patience than the profile's: `--patience 8 --double patience` asks whether 8 is enough
after 4 was not.
"""
from __future__ import annotations
import argparse, json, sys, time
from dataclasses import asdict
import torch
from eearly.grids import figure_params, grid_configs, run_params
from eearly.io import cpu_isa, cpu_name, write_json
from eearly.runs import RunConfig, run

GOAL_PP = 0.5


def profile_runs(args) -> dict:
    "The profile's shared run parameters (`--quick`: digits, a cap of 2 epochs, patience 1)."
    p = figure_params('fig_acc_vs_flops', args.profile)
    if args.quick: p.update(dataset='digits', subset=0, test_subset=0, schedule='converge', max_epochs=2, patience=1, min_delta=0.0)
    if args.dataset: p.update(dataset=args.dataset, test_subset=0)
    if args.subset is not None: p.update(subset=args.subset)
    if args.max_epochs is not None: p.update(max_epochs=args.max_epochs)
    if args.patience is not None: p.update(patience=args.patience)
    if p['schedule'] != 'converge': sys.exit(f"profile: {args.profile!r} trains {p['schedule']!r}, not 'converge'; the gap is a converge-schedule check")
    return p


def configs(args, p: dict, cap: int, patience: int) -> list[RunConfig]:
    "The profile's config of each backbone × regime (seed `--seed`) at epoch cap `cap` and patience `patience`."
    return [c for bb in args.backbones
            for c in grid_configs(run_params(p['dataset'], p['subset'], p['test_subset'], p['total_epochs'], p['batch_size'], p['lr'], bb,
                                             'converge', cap, patience, p['min_delta']), [args.seed], regime=args.regimes)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--profile', default='default', help='the make-figures profile whose runs to check (paper_figures/params/<profile>/)')
    ap.add_argument('--backbones', nargs='+', default=['cnn', 'vit_mini'])
    ap.add_argument('--regimes', nargs='+', default=['joint', 'disjoint', 'mixed'])
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--results', default=None, help='run cache (default: results/)')
    ap.add_argument('--out', default='build/convergence.json')
    ap.add_argument('--quick', action='store_true')
    ap.add_argument('--double', choices=['cap', 'patience'], default='cap', help='what the second run doubles: the epoch cap, or the patience of a plateau')
    ap.add_argument('--dataset', default=None, help="another dataset than the profile's (all of it unless --subset)")
    ap.add_argument('--subset', type=int, default=None, help="another training-set size than the profile's (0: all)")
    ap.add_argument('--max-epochs', type=int, default=None, help="another epoch cap per phase than the profile's")
    ap.add_argument('--patience', type=int, default=None, help="another patience than the profile's (the first run's; `--double patience` doubles it)")
    args = ap.parse_args()
    if args.max_epochs is not None and args.max_epochs < 1: sys.exit(f'--max-epochs: must be ≥ 1, got {args.max_epochs}')
    if args.patience is not None and args.patience < 1: sys.exit(f'--patience: must be ≥ 1, got {args.patience}')
    if args.subset is not None and args.subset < 0: sys.exit(f'--subset: must be ≥ 0 (0: all), got {args.subset}')
    p, started, rows = profile_runs(args), time.time(), []
    caps = (p['max_epochs'], p['max_epochs'] * (2 if args.double == 'cap' else 1))
    patiences = (p['patience'], p['patience'] * (2 if args.double == 'patience' else 1))
    for c1, c2 in zip(configs(args, p, caps[0], patiences[0]), configs(args, p, caps[1], patiences[1])):
        a = run(c1, args.results)
        capped = any(p['epochs_run'] >= caps[0] for p in a['phases'])
        # below the cap the plateaus alone ended every phase, so twice the cap is this run; twice the patience is another run
        b = run(c2, args.results) if capped or args.double == 'patience' else a
        rows.append(dict(backbone=c1.backbone, regime=c1.regime if isinstance(c1.regime, str) else '-'.join(c1.regime),
                         final_acc=round(100 * a['final_acc'], 2), final_acc_2x=round(100 * b['final_acc'], 2),
                         gain_pp=round(float(100 * (b['final_acc'] - a['final_acc'])), 2), capped=capped, trained_2x=b is not a,
                         capped_2x=any(p['epochs_run'] >= caps[1] for p in b['phases']),
                         phase_epochs=[p['epochs_run'] for p in a['phases']], phase_epochs_2x=[p['epochs_run'] for p in b['phases']],
                         best_epochs=[p['best_epoch'] for p in a['phases']], exit_accs=[round(100 * x, 2) for x in a['head_acc']],
                         train_s=a['train_seconds'], train_s_2x=b['train_seconds'] if b is not a else None))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    worst = float(max(r["gain_pp"] for r in rows))
    res = dict(goal_pp=GOAL_PP, max_gain_pp=worst, met=bool(worst <= GOAL_PP), profile=args.profile, doubled=args.double, max_epochs=caps, patience=patiences,
               min_delta=p['min_delta'], dataset=p['dataset'], subset=p['subset'], test_subset=p['test_subset'], seed=args.seed, cpu=cpu_name(), isa=cpu_isa(),
               threads=torch.get_num_threads(), config=asdict(configs(args, p, caps[0], patiences[0])[0]), rows=rows,
               wall_s=round(time.time() - started, 1))
    write_json(args.out, res)
    print(json.dumps(res, indent=1))
    what = f'caps {caps[0]} vs {caps[1]} epochs per phase' if args.double == 'cap' else f'patience {patiences[0]} vs {patiences[1]} epochs (cap {caps[0]})'
    print(f"convergence gap ({args.profile} profile, {p['dataset']} {p['subset'] or 'all'}, {what}, seed {args.seed}): largest final-exit "
          f"gain {worst:+.2f} pp (goal ≤ {GOAL_PP}): {'met' if worst <= GOAL_PP else 'MISSED'}; "
          + '; '.join(f"{r['backbone']} {r['regime']} {r['final_acc']:.2f}→{r['final_acc_2x']:.2f}" for r in rows))


if __name__ == '__main__': main()
