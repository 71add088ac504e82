"""GPF beside SDN on a profile's stored runs: every IC's test accuracy and its ratio to SDN's same IC (same regime and
seed), the last IC's per-class recall, and the gates λ of every IC per class (`eearly.methods.gpf_gates`, on the test
split). A faithful GPF keeps every IC at ≥ 0.8 × SDN's; a last IC whose gate went to 0 for a class cannot predict it.

    .venv/bin/python bench/gpf_diagnostics.py [--profile default] [--methods gpf gpf_eeb] [--out paper_figures/checks/gpf_diagnostics.json]

Reads the runs from the profile's store (accuracies and recalls from the stored test logits). The gates are a cached
analysis (`analysis/gpf_gates-<key>.pt` in the run's folder and the store): computing them needs the run's weights, so
the first call loads them from the results cache and ships them to the store; later calls read the stored gates.
The runs of `--methods` that the profile's `tab_budget` lists but the store lacks are listed (`missing` in the JSON),
as are stored runs without an SDN twin (`skipped`). Writes the JSON to `--out` and prints a Markdown table.
"""
from __future__ import annotations
import argparse, os, sys
from dataclasses import replace
import torch
from eearly.grids import REGIME_NAMES, as_list, cached_analysis, figure_params, grid_configs, run_params
from eearly.io import cpu_name, resolve_path, write_json
from eearly.methods import gpf_gates
from eearly.runs import build, load_model, load_run, run_dir
from eearly.store import profile_store, stored_runs


def recall(logits: torch.Tensor, labels: torch.Tensor, classes: int) -> list[float]:
    "Per-class recall (%) of one exit's `logits`."
    pred = logits.argmax(-1)
    return [round(100 * (pred[labels == c] == c).float().mean().item(), 2) for c in range(classes)]


def gates(cfg) -> torch.Tensor:
    "Mean λ per IC and class on the test split, cached with the run."
    def compute(): return gpf_gates(load_model(cfg), build(cfg)[1].test)
    return cached_analysis(cfg, 'gpf_gates', dict(split='test'), compute)


def listed_runs(profile: str, methods: list) -> list:
    "The run folder names of `methods` (and SDN, their twin) that the profile's `tab_budget` lists, before any cap is raised."
    p = figure_params('tab_budget', profile)
    base = run_params(*(p[k] for k in ('dataset', 'subset', 'test_subset', 'total_epochs', 'batch_size', 'lr', 'backbone')),
                      **{k: p[k] for k in ('schedule', 'max_epochs', 'patience', 'min_delta')})
    cfgs = grid_configs(base, as_list(p['seeds'], 'seeds', int), regime=list(REGIME_NAMES), method=sorted(set(methods) | {'sdn'}))
    return [run_dir(c).name for c in cfgs]


def diagnose(cfg, sdn_cfg) -> dict:
    lg, base = load_run(cfg), load_run(sdn_cfg)  # from the store, into the results cache
    y, k = lg['test_labels'], lg['test_logits'].shape[-1]
    acc = lambda z: [round(100 * (e.argmax(-1) == y).float().mean().item(), 2) for e in z]
    ic, sdn = acc(lg['test_logits'])[:-1], acc(base['test_logits'])[:-1]
    lam = gates(cfg)
    return dict(run=run_dir(cfg).name, method=cfg.method, regime=cfg.regime, seed=cfg.seed, ic_acc=ic, sdn_ic_acc=sdn,
                ratio=[round(a / b, 3) for a, b in zip(ic, sdn)], final_acc=acc(lg['test_logits'])[-1],
                last_ic_recall=recall(lg['test_logits'][-2], y, k), sdn_last_ic_recall=recall(base['test_logits'][-2], y, k),
                gates=[[round(v, 4) for v in row] for row in lam.tolist()], last_ic_gate_min=round(lam[-1].min().item(), 4),
                last_ic_gate_max=round(lam[-1].max().item(), 4))


def markdown(rows: list[dict]) -> str:
    n = len(rows[0]['ic_acc'])
    head = ['method', 'regime', 'seed'] + [f'IC{i + 1} (SDN, ratio)' for i in range(n)] + ['last IC recall min (SDN)', 'last IC λ min–max']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for r in rows:
        ics = [f"{a:.2f} ({s:.2f}, {q:.2f})" for a, s, q in zip(r['ic_acc'], r['sdn_ic_acc'], r['ratio'])]
        lines.append('| ' + ' | '.join([r['method'], r['regime'], str(r['seed'])] + ics +
                                       [f"{min(r['last_ic_recall']):.1f} ({min(r['sdn_last_ic_recall']):.1f})",
                                        f"{r['last_ic_gate_min']:.3f}–{r['last_ic_gate_max']:.3f}"]) + ' |')
    return '\n'.join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--profile', default='default')
    ap.add_argument('--methods', nargs='+', default=['gpf', 'gpf_eeb'])
    ap.add_argument('--out', default='paper_figures/checks/gpf_diagnostics.json')
    args = ap.parse_args()
    store = profile_store(args.profile)
    os.environ['EEARLY_STORE'], os.environ['EEARLY_TRAIN'] = str(store), '0'  # read and ship to the store, never train
    have = stored_runs(store)
    names = set(have.run)
    rows, skipped = [], []
    missing = [n for n in listed_runs(args.profile, args.methods) if n not in names]
    for cfg in sorted((c for c in have.config if c.method in args.methods), key=lambda c: (c.method, c.backbone, c.regime, c.seed)):
        twin = replace(cfg, method='sdn', method_kw={})
        if run_dir(twin).name not in names: skipped.append(f'{run_dir(cfg).name}: no SDN twin in the store'); continue
        rows.append(diagnose(cfg, twin))
        print(markdown(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    if not rows: sys.exit(f'gpf_diagnostics: no {"/".join(args.methods)} run with an SDN twin in {store}')
    res = dict(profile=args.profile, cpu=cpu_name(), split='test', criterion='every IC >= 0.8 x SDN\'s same IC (same regime, seed)',
               min_ratio={m: min(min(r['ratio']) for r in rows if r['method'] == m) for m in sorted({r['method'] for r in rows})},
               rows=rows, skipped=skipped, missing=missing)
    write_json(resolve_path(args.out), res)
    print(markdown(rows))
    print('min ratio to SDN per method:', res['min_ratio'], '; skipped:', skipped or 'none', '; missing from the store:', missing or 'none')


if __name__ == '__main__': main()
