"""Benchmark of real early-exit inference: `eearly.infer.predict` at the thresholds that cost 25/50/75 % of the backbone's
FLOPs against the plain backbone forward, wall-clock. A plain script, not a test: prints JSON, then one summary line.

    .venv/bin/python bench/inference.py [--backbone cnn resnet20] [--n-train 5000] [--epochs 1] [--n-eval 2048]
                                        [--n-eval1 256] [--batch 256] [--repeats 5] [--channels-last] [--threads T]
                                        [--device cpu] [--quick]

The model is `MultiExit(create_backbone(<backbone>, 10, 1, 28))` trained jointly (SDN, `eearly.regimes.fit`) for
`--epochs` on a stratified `--n-train` subset of Fashion-MNIST, so its ICs are confident on some images. The thresholds
come from the simulated curve (`exit_curve`, max_prob) on the validation split: per budget, the one of highest cost
within it. The first `--n-eval` test images are then run in batches of `--batch`, and `--n-eval1` of them one at a time
(batch 1), the backbone and each budget in turn per repeat, under `torch.inference_mode`, eval mode, on the CPU.
Per budget: measured speed-up (median backbone time / median `predict` time) over the FLOPs-predicted one (backbone
FLOPs / mean FLOPs of the exits the test images took, heads included), and over the latency-predicted one (backbone
time / mean of the exits' measured latency costs, `exit_costs(kind='latency')` at the same batch size on the same
device, profiled just before). Goals at 50 %, batch 256: ≥ 0.8 of the FLOPs-predicted speed-up, ≥ 0.9 of the
latency-predicted one. `--channels-last`: after training, the model (`to_channels_last`) and the test images in
channels-last memory format, for every side alike. `--quick`: `cnn` only, 3000 training images for 2 epochs, 512 + 64 test images, 3 repeats,
1 thread.
"""
from __future__ import annotations
import argparse, json, statistics, sys, time
import torch
from eearly.data import get_dataloaders
from eearly.evaluate import collect_logits, exit_curve
from eearly.flops import count_flops, exit_costs, exit_flops
from eearly.heads import MultiExit, to_channels_last
from eearly.infer import predict
from eearly.models import create_backbone
from eearly.regimes import fit
from train_overhead import device_name, sync  # bench/ is on sys.path when a script runs from it


def train(backbone, n_train, epochs, dev, seed=0):
    "A briefly trained model and its loaders: joint SDN training on `n_train` Fashion-MNIST images."
    dls = get_dataloaders('fashion_mnist', 128, val_frac=0.1, seed=seed, subset=n_train, augment=False)
    torch.manual_seed(seed)
    model = MultiExit(create_backbone(backbone, 10, 1, 28))
    t = time.perf_counter()
    fit(model, 'joint', dls.train, phase_epochs=(epochs,), lr=0.05, seed=seed, method='sdn', device=dev)
    return model.eval(), dls, time.perf_counter() - t


def thresholds(model, val_dl, costs, bb_flops, budgets):
    "Per budget: the max_prob threshold of highest simulated cost within it, and that cost as a fraction of `bb_flops`."
    logits, labels = collect_logits(model, val_dl)
    curve = exit_curve(logits, labels, costs, 'max_prob')
    out = {}
    for b in budgets:
        fits = curve[curve.cost <= b * bb_flops]
        r = fits.loc[fits.cost.idxmax()] if len(fits) else curve.iloc[0]
        out[b] = dict(threshold=float(r.threshold), val_cost=float(r.cost / bb_flops), val_acc=float(r.accuracy))
    return out


def time_all(model, batches, ths, costs, repeats, dev):
    "Median seconds over `repeats` of the backbone and of `predict` at each threshold on all `batches`, interleaved."
    runs = {'backbone': lambda x: model.backbone(x),
            **{b: (lambda x, t=t: predict(model, x, 'max_prob', t, costs=costs)) for b, t in ths.items()}}
    names, times = list(runs), {k: [] for k in runs}
    with torch.inference_mode():
        for k in names:  # warm-up, untimed: the first pass pays for allocation
            for x in batches[:2]: runs[k](x)
        for r in range(repeats):
            for k in (names if r % 2 == 0 else names[::-1]):  # alternate the order so drift hits both sides alike
                sync(dev); t = time.perf_counter()
                for x in batches: runs[k](x)
                sync(dev); times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def bench(model, x, y, bs, ths, costs, bb_flops, repeats, dev):
    lat = torch.tensor(exit_costs(model, kind='latency', batch_size=bs, device=dev), dtype=torch.float64)  # s per image
    batches = list(x.to(dev).split(bs))
    y = y.to(dev)
    with torch.inference_mode(): res = {b: [predict(model, xb, 'max_prob', t, costs=costs) for xb in batches] for b, t in ths.items()}
    with torch.inference_mode(): bb_acc = torch.cat([model.backbone(xb).argmax(-1) for xb in batches]).eq(y).float().mean().item()
    sec = time_all(model, batches, ths, costs, repeats, dev)
    out = dict(batch=bs, n=len(x), backbone_ms=round(1e3 * sec['backbone'], 2), backbone_acc=round(bb_acc, 4),
               latency_us=[round(1e6 * v, 2) for v in lat.tolist()], budgets={})
    for b in ths:
        flops = torch.cat([r.flops for r in res[b]])
        ex = torch.cat([r.exit for r in res[b]]).cpu()
        pred_su, meas_su = bb_flops / flops.double().mean().item(), sec['backbone'] / sec[b]
        lat_su = sec['backbone'] / len(x) / lat[ex].mean().item()
        out['budgets'][f'{b:g}'] = dict(threshold=ths[b], ms=round(1e3 * sec[b], 2), cost=round(1 / pred_su, 4),
                                        acc=round(torch.cat([r.pred for r in res[b]]).eq(y).float().mean().item(), 4),
                                        exit_frac=[round(v, 4) for v in (ex.bincount(minlength=model.n_exits) / len(ex)).tolist()],
                                        measured_speedup=round(meas_su, 3), flops_speedup=round(pred_su, 3), ratio=round(meas_su / pred_su, 3),
                                        latency_speedup=round(lat_su, 3), latency_ratio=round(meas_su / lat_su, 3))
    return out


def run(backbone, args, dev):
    "Train `backbone`, choose the thresholds, time the batched and the batch-1 runs."
    model, dls, train_s = train(backbone, args.n_train, args.epochs, dev)
    print(f'  {backbone} trained in {train_s:.1f}s', file=sys.stderr, flush=True)
    costs, bb_flops = exit_flops(model), count_flops(model.backbone, model.input_shape)
    ths = thresholds(model, dls.val, costs, bb_flops, args.budgets)
    x, y = dls.test.dataset.__getitems__(list(range(args.n_eval)))
    if args.channels_last: to_channels_last(model); x = x.contiguous(memory_format=torch.channels_last)
    res = dict(backbone=backbone, channels_last=args.channels_last, n_train=args.n_train, epochs=args.epochs, train_s=round(train_s, 1),
               exit_flops_rel=[round(c / bb_flops, 4) for c in costs], calibration={f'{b:g}': v for b, v in ths.items()})
    t = {b: v['threshold'] for b, v in ths.items()}
    res['batched'] = bench(model, x, y, args.batch, t, costs, bb_flops, args.repeats, dev)
    print('batched', json.dumps(res['batched']), file=sys.stderr, flush=True)  # progress: survives a later crash
    res['batch1'] = bench(model, x[:args.n_eval1], y[:args.n_eval1], 1, t, costs, bb_flops, args.repeats, dev)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--backbone', nargs='+', default=['cnn', 'resnet20'], help='BACKBONES names or tv:<torchvision name>, built for 1×28×28 inputs')
    ap.add_argument('--n-train', type=int, default=5000)
    ap.add_argument('--epochs', type=int, default=1)
    ap.add_argument('--n-eval', type=int, default=2048, help='test images for the batched run')
    ap.add_argument('--n-eval1', type=int, default=256, help='test images for the batch-1 run')
    ap.add_argument('--batch', type=int, default=256)
    ap.add_argument('--repeats', type=int, default=5)
    ap.add_argument('--budgets', type=float, nargs='+', default=[0.25, 0.5, 0.75])
    ap.add_argument('--channels-last', action='store_true', help='model and inputs in channels-last memory format')
    ap.add_argument('--threads', type=int, default=None, help='torch threads (default: torch decides)')
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--quick', action='store_true', help='the first backbone only, 3000 training images for 2 epochs, 512 + 64 test images, 3 repeats, 1 thread')
    args = ap.parse_args()
    if args.quick:
        args.backbone, args.n_train, args.epochs, args.n_eval, args.n_eval1, args.repeats = args.backbone[:1], 3000, 2, 512, 64, 3
        args.threads = args.threads or 1
    if args.threads: torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    res = dict(device=str(dev), device_name=device_name(dev),
               threads=torch.get_num_threads(), torch=torch.__version__, runs=[run(b, args, dev) for b in args.backbone])
    print(json.dumps(res, indent=1))
    fmt = lambda r: ', '.join(f"{int(float(b) * 100)}%: {v['measured_speedup']:.2f}x = {v['ratio']:.2f} of FLOPs', {v['latency_ratio']:.2f} of latency's"
                              for b, v in r['budgets'].items())
    print(f"early-exit inference on {dev}, {res['threads']} thread(s), measured speed-up and its fraction of the predicted one "
          f"(goal at 50 %, batch {args.batch}: ≥ 0.8 of FLOPs', ≥ 0.9 of latency's): " + '; '.join(
              f"{r['backbone']} batch {args.batch}: {fmt(r['batched'])} | batch 1: {fmt(r['batch1'])}" for r in res['runs']))


if __name__ == '__main__': main()
