"""Benchmark of the analysis tools: `eearly.landscape.loss_surface` against a naive deepcopy-per-point loop, and (when
`eearly.rank` / `eearly.info` exist) rank + MI of every exit. A plain script, not a test: prints JSON, then one summary line.

    .venv/bin/python bench/analysis.py [--steps 21] [--n 2000] [--batch 500] [--threads T] [--device cpu] [--small]

The default is the spec'd run: `MultiExit(create_backbone('cnn', 10, 1, 28))` (untrained) on the first 2000
Fashion-MNIST training images in 4 batches of 500, a 21×21 grid. `--small` adds the notebook's tiny digits model, where
the forward pass is cheap and the per-point deepcopy of the naive loop dominates.
"""
from __future__ import annotations
import argparse, copy, json, platform, sys, time
import torch
from eearly.data import load_dataset
from eearly.heads import MultiExit
from eearly.landscape import exit_loss, filter_normalized_direction, loss_surface
from eearly.models import create_backbone


def naive_surface(model, loss_fn, batches, steps, span=1.0, seed=0):
    "The loop one writes first: a deepcopy of the model per grid point, directions added, the same loss."
    a = span * (2 * torch.arange(steps, dtype=torch.float64) - (steps - 1)) / (steps - 1)
    d, e = filter_normalized_direction(model, seed), filter_normalized_direction(model, seed + 1)
    Z, t0 = torch.empty(steps, steps, dtype=torch.float64), time.perf_counter()
    for i, x in enumerate(a.tolist()):
        if i: print(f'  naive: {i}/{steps} rows, {time.perf_counter() - t0:.1f}s', file=sys.stderr, flush=True)
        for j, y in enumerate(a.tolist()):
            m = copy.deepcopy(model)
            m.eval()
            with torch.no_grad():
                for n, p in m.named_parameters(): p.add_(d[n] * x + e[n] * y)
                Z[i, j] = sum(float(loss_fn(m(xb), yb)) for xb, yb in batches) / len(batches)
    return a, Z


def compare(model, batches, steps):
    loss_fn = exit_loss()
    with torch.no_grad(): [model.eval()(x) for x, _ in batches]  # warm-up, untimed: the first pass pays for allocation
    t = time.perf_counter(); _, _, Z = loss_surface(model, loss_fn, batches, steps=steps); ours = time.perf_counter() - t
    print(f'  loss_surface: {ours:.1f}s', file=sys.stderr, flush=True)
    t = time.perf_counter(); _, Zn = naive_surface(model, loss_fn, batches, steps); naive = time.perf_counter() - t
    err = (Z - Zn).abs().max().item()
    assert err <= 1e-5, f'naive and loss_surface disagree by {err}'
    return dict(steps=steps, points=steps * steps, n=sum(len(x) for x, _ in batches), batches=len(batches),
                params=sum(p.numel() for p in model.parameters()), ours_s=round(ours, 3), naive_s=round(naive, 3),
                ratio=round(naive / ours, 3), ours_ms_per_point=round(1e3 * ours / steps ** 2, 2), max_abs_diff=err)


def rank_mi(model, ds, dev, n=5000, bs=500):
    "Seconds for rank (all exits) and KDE MI (all exits) on the first `n` images; None when the modules are missing."
    try:
        from eearly.rank import collect_activations, rank_profile
        from eearly.info import information_plane
    except ImportError as e: return None, f'{type(e).__name__}: {e}'
    try:
        loader = [tuple(t.to(dev) for t in ds.__getitems__(list(range(i, min(i + bs, n))))) for i in range(0, n, bs)]
        t = time.perf_counter(); rank_profile(collect_activations(model, loader, n=n)); tr = time.perf_counter() - t
        t = time.perf_counter(); information_plane(model, loader, [('init', model.state_dict())], n=n); tm = time.perf_counter() - t
        return dict(n=n, rank_s=round(tr, 3), mi_s=round(tm, 3)), None
    except Exception as e: return None, f'{type(e).__name__}: {e}'  # their API may have moved on: report, do not fail


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--steps', type=int, default=21)
    ap.add_argument('--n', type=int, default=2000)
    ap.add_argument('--batch', type=int, default=500)
    ap.add_argument('--threads', type=int, default=None, help='torch threads (default: torch decides)')
    ap.add_argument('--small', action='store_true', help="also time the notebook's tiny digits model")
    ap.add_argument('--no-rank-mi', action='store_true')
    ap.add_argument('--device', default='cpu')
    args = ap.parse_args()
    if args.threads: torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    torch.manual_seed(0)
    ds = load_dataset('fashion_mnist')
    x, y = ds.__getitems__(list(range(args.n)))
    batches = [(x[i:i + args.batch].to(dev), y[i:i + args.batch].to(dev)) for i in range(0, args.n, args.batch)]
    model = MultiExit(create_backbone('cnn', 10, 1, 28)).to(dev)
    res = dict(device=str(dev), threads=torch.get_num_threads(), torch=torch.__version__, machine=platform.machine(),
               fashion_cnn=compare(model, batches, args.steps))
    print('fashion_cnn', json.dumps(res['fashion_cnn']), file=sys.stderr, flush=True)  # progress: survives a later crash
    if args.small:
        from eearly.data import get_dataloaders
        small = MultiExit(create_backbone('cnn', 10, 1, 8, widths=(8, 16, 16)), exits=['blocks.0', 'blocks.1']).to(dev)
        dl = get_dataloaders('digits', batch_size=128, augment=False).train
        res['digits_tiny'] = compare(small, [(x.to(dev), y.to(dev)) for _, (x, y) in zip(range(3), dl)], args.steps)
    res['rank_mi'], why = (None, 'skipped') if args.no_rank_mi else rank_mi(model, ds, dev)
    if why: res['rank_mi_note'] = why
    print(json.dumps(res, indent=1))
    f = res['fashion_cnn']
    print(f"loss_surface {f['steps']}x{f['steps']} on {f['n']} images: ours {f['ours_s']:.1f}s, naive deepcopy loop "
          f"{f['naive_s']:.1f}s, ratio {f['ratio']:.2f}x" + (f"; tiny digits model ratio {res['digits_tiny']['ratio']:.2f}x" if args.small else '')
          + (f"; rank {res['rank_mi']['rank_s']:.1f}s, MI {res['rank_mi']['mi_s']:.1f}s on 5000" if res['rank_mi'] else '; rank/MI: null'))


if __name__ == '__main__': main()
