"""Convergence gap of a profile: one seed of each backbone × regime trained with `schedule='converge'` under the epoch
cap `--max-epochs`, then again with twice the cap. A run that had converged gains nothing from the larger cap; the goal
(issue 12) is a gain of at most 0.5 pp of final-exit test accuracy. A plain script, not a test: prints JSON, then one
summary line, and writes the JSON to `--out` (the results page of `make figures` shows it when it lies in the figure
folder as `convergence.json`).

    .venv/bin/python bench/convergence.py [--dataset fashion_mnist] [--subset 20000] [--test-subset 0]
                                          [--backbones cnn vit_mini] [--backbone-kw '{"cnn": {...}}']
                                          [--regimes joint disjoint mixed] [--max-epochs 60] [--patience 4] [--min-delta 0]
                                          [--batch 128] [--seed 0] [--nchw] [--results DIR] [--out FILE] [--quick]

Under `converge` the LR is constant until a validation plateau, then ÷10 (twice), and the next plateau ends the phase, so
a run none of whose phases reached the cap is the same run under twice the cap (bit-identical; tested in
`nbs/07_regimes.ipynb`): its gain is 0 by construction and only runs that hit the cap are retrained at twice the cap
(`trained_2x` in the JSON). The runs are ordinary cached runs (`eearly.runs.run_many`, default cache `results/`), so a figure that asks for the same
config reuses them, and a rerun of this script trains nothing. ViTs take the AdamW settings of
`eearly.experiments.backbone_defaults`. `--quick`: digits, 2 and 4 epochs, patience 1 (a smoke test of the script).
"""
from __future__ import annotations
import argparse, json, sys, time
from dataclasses import asdict
import torch
from eearly.experiments import backbone_defaults
from eearly.io import cpu_name, write_json
from eearly.runs import RunConfig, run

GOAL_PP = 0.5


def configs(args, cap: int) -> list[RunConfig]:
    "One converge-schedule config per backbone × regime at epoch cap `cap`."
    kw = json.loads(args.backbone_kw)
    return [RunConfig(dataset=args.dataset, subset=args.subset or None, test_subset=args.test_subset or None,
                      batch_size=args.batch, backbone=bb, backbone_kw=kw.get(bb, {}), regime=reg, schedule='converge',
                      max_epochs=cap, patience=args.patience, min_delta=args.min_delta, seed=args.seed, channels_last=not args.nchw,
                      **backbone_defaults(bb))
            for bb in args.backbones for reg in args.regimes]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--dataset', default='fashion_mnist')
    ap.add_argument('--subset', type=int, default=20000, help='training images before the validation split (0: all)')
    ap.add_argument('--test-subset', type=int, default=0, help='test images (0: all 10,000)')
    ap.add_argument('--backbones', nargs='+', default=['cnn', 'vit_mini'])
    ap.add_argument('--backbone-kw', default='{}', help='JSON: backbone name -> backbone_kw')
    ap.add_argument('--regimes', nargs='+', default=['joint', 'disjoint', 'mixed'])
    ap.add_argument('--max-epochs', type=int, default=60, help="the profile's per-phase safety cap; the check doubles it for runs that reach it")
    ap.add_argument('--patience', type=int, default=4)
    ap.add_argument('--min-delta', type=float, default=0.0, help='least validation-accuracy gain that counts as one (a fraction)')
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--nchw', action='store_true', help='train NCHW instead of the channels-last default')
    ap.add_argument('--results', default=None, help='run cache (default: results/)')
    ap.add_argument('--out', default='build/convergence.json')
    ap.add_argument('--quick', action='store_true')
    args = ap.parse_args()
    if args.quick: args.dataset, args.subset, args.test_subset, args.max_epochs, args.patience = 'digits', 0, 0, 2, 1
    started, rows = time.time(), []
    caps = (args.max_epochs, 2 * args.max_epochs)
    for c1, c2 in zip(configs(args, caps[0]), configs(args, caps[1])):
        a = run(c1, args.results)
        capped = any(p['epochs_run'] >= caps[0] for p in a['phases'])
        b = run(c2, args.results) if capped else a  # below the cap the plateaus alone ended every phase: the 2x run is this run
        rows.append(dict(backbone=c1.backbone, regime=c1.regime if isinstance(c1.regime, str) else '-'.join(c1.regime),
                         final_acc=round(100 * a['final_acc'], 2), final_acc_2x=round(100 * b['final_acc'], 2),
                         gain_pp=round(float(100 * (b['final_acc'] - a['final_acc'])), 2), capped=capped, trained_2x=capped,
                         phase_epochs=[p['epochs_run'] for p in a['phases']], phase_epochs_2x=[p['epochs_run'] for p in b['phases']],
                         best_epochs=[p['best_epoch'] for p in a['phases']], exit_accs=[round(100 * x, 2) for x in a['head_acc']],
                         train_s=a['train_seconds'], train_s_2x=b['train_seconds'] if capped else None))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    worst = float(max(r["gain_pp"] for r in rows))
    res = dict(goal_pp=GOAL_PP, max_gain_pp=worst, met=bool(worst <= GOAL_PP), max_epochs=caps, patience=args.patience, min_delta=args.min_delta,
               dataset=args.dataset, subset=args.subset, test_subset=args.test_subset, seed=args.seed, cpu=cpu_name(),
               threads=torch.get_num_threads(), config=asdict(configs(args, caps[0])[0]), rows=rows,
               wall_s=round(time.time() - started, 1))
    write_json(args.out, res)
    print(json.dumps(res, indent=1))
    print(f"convergence gap ({args.dataset}, caps {caps[0]} vs {caps[1]} epochs per phase, seed {args.seed}): largest final-exit "
          f"gain {worst:+.2f} pp (goal ≤ {GOAL_PP}): {'met' if worst <= GOAL_PP else 'MISSED'}; "
          + '; '.join(f"{r['backbone']} {r['regime']} {r['final_acc']:.2f}→{r['final_acc_2x']:.2f}" for r in rows))


if __name__ == '__main__': main()
