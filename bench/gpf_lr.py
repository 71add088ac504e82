"""GPF's learning rate, chosen on the validation split: `gpf_lr` (Adam, GPF's own parameters) swept on the default
profile's `cnn` disjoint runs, where the backbone is frozen after its shared phase 1, so that only the rate under test
moves what the ICs learn. The pick is the rate with the best mean validation accuracy over the ICs (the final exit is
the backbone's own and does not depend on it); test accuracies are printed beside it but play no part.

    .venv/bin/python bench/gpf_lr.py [--methods gpf gpf_eeb] [--lrs 1e-4 3e-4 1e-3 3e-3 1e-2] [--seed 0] [--profile default]
                                     [--out build/gpf_lr.json] [--quick]

The runs are ordinary cached runs (`eearly.runs.run`, default cache `results/`); every rate reuses the one phase 1 of its
seed. `--quick`: digits, 2 epochs per phase (a smoke test of the script). Prints one JSON line per run, then the table and
the pick per method, and writes the JSON to `--out`.
"""
from __future__ import annotations
import argparse, json, sys, time
from dataclasses import replace
import torch
from eearly.grids import figure_params, grid_configs, run_params
from eearly.io import cpu_name, write_json
from eearly.runs import read_logits, run, run_dir


def exit_accuracies(cfg, split: str, results=None) -> list[float]:
    "Each exit's accuracy (%) on `split` ('val' or 'test'), from the run's stored logits."
    lg = read_logits(run_dir(cfg, results))
    return [round(100 * (z.argmax(-1) == lg[f'{split}_labels']).float().mean().item(), 2) for z in lg[f'{split}_logits']]


def base_config(args, method: str):
    p = figure_params('tab_budget', args.profile)
    if args.quick: p.update(dataset='digits', subset=0, test_subset=0, schedule='equal_epochs', total_epochs=4)
    return grid_configs(run_params(p['dataset'], p['subset'], p['test_subset'], p['total_epochs'], p['batch_size'], p['lr'], 'cnn',
                                   p['schedule'], p['max_epochs'], p['patience'], p['min_delta']), [args.seed], regime=['disjoint'], method=[method])[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--methods', nargs='+', default=['gpf', 'gpf_eeb'])
    ap.add_argument('--lrs', nargs='+', type=float, default=[1e-4, 3e-4, 1e-3, 3e-3, 1e-2])
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--profile', default='default')
    ap.add_argument('--results', default=None, help='run cache (default: results/)')
    ap.add_argument('--out', default='build/gpf_lr.json')
    ap.add_argument('--quick', action='store_true')
    args = ap.parse_args()
    started, rows = time.time(), []
    for method in args.methods:
        base = base_config(args, method)
        for lr in args.lrs:
            cfg = replace(base, method_kw=dict(base.method_kw, gpf_lr=lr))
            m = run(cfg, args.results)
            val = exit_accuracies(cfg, 'val', args.results)
            rows.append(dict(method=method, gpf_lr=lr, val_ic_mean=round(sum(val[:-1]) / (len(val) - 1), 2), val_acc=val,
                             test_acc=[round(100 * a, 2) for a in m['head_acc']], phase_epochs=[p['epochs_run'] for p in m['phases']],
                             train_s=m['train_seconds']))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    picks = {meth: max((r for r in rows if r['method'] == meth), key=lambda r: r['val_ic_mean'])['gpf_lr'] for meth in args.methods}
    res = dict(picks=picks, criterion='mean validation accuracy of the ICs, disjoint cnn runs', profile=args.profile, seed=args.seed,
               quick=args.quick, cpu=cpu_name(), threads=torch.get_num_threads(), rows=rows, wall_s=round(time.time() - started, 1))
    write_json(args.out, res)
    print(json.dumps(res, indent=1))
    for meth in args.methods:
        print(f'{meth}: gpf_lr picked on validation: {picks[meth]:g}; ' + '; '.join(
            f"{r['gpf_lr']:g}: val ICs {r['val_ic_mean']:.2f} %" for r in rows if r['method'] == meth))


if __name__ == '__main__': main()
