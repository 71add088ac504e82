"""Benchmark of the training overhead of the ICs: seconds per training step (forward, SDN loss over every exit, backward,
SGD step) of the `MultiExit` model against the plain backbone alone, on the same batch, in the same process. A plain
script, not a test: prints JSON, then one summary line.

    .venv/bin/python bench/train_overhead.py [--backbone cnn resnet20] [--head pooled] [--batch 128] [--steps 10]
                                             [--repeats 7] [--channels-last] [--threads T] [--device cpu] [--quick]

The backbone is `create_backbone(<backbone>, 10, 1, 28)` on one Fashion-MNIST batch (other backbones than `cnn`: the
images zero-padded to 32×32, the map sizes of the CIFAR nets); the multi-exit model wraps the
same backbone (`exits='auto'`), so both update the same weights. The two alternate per repeat (`--steps` steps each);
the ratio of the median times is printed next to `1 + share`, share = the heads' FLOPs / the backbone's FLOPs
(`eearly.flops.exit_cost_table`, forward, counted FLOPs only: pooling, normalisation and activations count as 0).
Goal: ratio ≤ 1 + share + 0.05. The same for the forward alone (eval mode, `torch.inference_mode`) tells the forward's
part, and the ICs' forward alone on stored features, over the backbone's forward, their measured time share.
`predict` with no exit firing (threshold inf, `costs` given) against the plain forward has the goal
≤ 1 + share + 0.05 too. `--channels-last`: model, heads and batch in channels-last format (`to_channels_last`).
`--quick`: 3 steps, 3 repeats, 1 thread.
"""
from __future__ import annotations
import argparse, json, math, platform, statistics, time
import torch
import torch.nn.functional as F
from eearly.data import load_dataset
from eearly.flops import exit_cost_table, exit_flops
from eearly.heads import MultiExit, to_channels_last
from eearly.io import cpu_name
from eearly.infer import predict
from eearly.methods import as_method, method_loss
from eearly.models import create_backbone


def steps(model, x, y, loss_fn, n):
    "A function running `n` SGD training steps of `model` on (x, y)."
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
    def run():
        for _ in range(n):
            loss = loss_fn(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return run


def forwards(model, x, n):
    def run():
        with torch.inference_mode():
            for _ in range(n): model(x)
    return run


def predicts(model, x, n):
    "`predict` with a threshold no exit reaches, so every sample runs the whole network and every head."
    costs = exit_flops(model)
    def run():
        for _ in range(n): predict(model, x, 'max_prob', math.inf, costs=costs)
    return run


def heads_only(model, x, n):
    "Forward of the ICs alone on the backbone's features at the exits (computed once, untimed)."
    with torch.inference_mode():
        feats, h = [], x
        for s in model.stages[:-1]: h = s(h); feats.append(h)
    def run():
        with torch.inference_mode():
            for _ in range(n): [hd(f) for hd, f in zip(model.heads, feats)]
    return run


def device_name(dev) -> str:
    "The card's name on CUDA, else the CPU model (ratios differ between CPUs: an AVX2 AMD EPYC here, an AVX-512 Intel elsewhere)."
    return torch.cuda.get_device_name(dev) if dev.type == 'cuda' else cpu_name()


def sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize(dev)


def interleaved(runs: dict, repeats: int, dev=torch.device('cpu')) -> dict:
    "Median seconds of each function in `runs` over `repeats`, in alternating order, after one untimed warm-up each."
    for f in runs.values(): f()
    names, times = list(runs), {k: [] for k in runs}
    for r in range(repeats):
        for k in (names if r % 2 == 0 else names[::-1]):
            sync(dev); t = time.perf_counter(); runs[k](); sync(dev)
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def bench(backbone, args, dev):
    torch.manual_seed(0)
    x, y = load_dataset('fashion_mnist').__getitems__(list(range(args.batch)))
    size = 28 if backbone == 'cnn' else 32  # the CIFAR nets on CIFAR's map sizes: the images zero-padded to 32×32
    x, y = F.pad(x, [(size - 28) // 2] * 4).to(dev), y.to(dev)
    model = MultiExit(create_backbone(backbone, 10, 1, size), head=args.head).to(dev)
    if args.channels_last:
        to_channels_last(model)
        x = x.contiguous(memory_format=torch.channels_last)
    bb, method = model.backbone, as_method('sdn')
    tab = exit_cost_table(model)
    share = float(tab.head_flops.sum() / tab.backbone_flops.iloc[-1])
    goal = 1 + share + 0.05
    model.train()
    sec = interleaved({'multi_exit': steps(model, x, y, lambda outs, y: method_loss(model, method, outs, y)[0], args.steps),
                       'backbone': steps(bb, x, y, F.cross_entropy, args.steps)}, args.repeats, dev)
    model.eval()
    fwd = interleaved({'multi_exit': forwards(model, x, args.steps), 'backbone': forwards(bb, x, args.steps),
                       'heads': heads_only(model, x, args.steps), 'predict': predicts(model, x, args.steps)}, args.repeats, dev)
    ratio, fwd_ratio, pred_ratio = sec['multi_exit'] / sec['backbone'], fwd['multi_exit'] / fwd['backbone'], fwd['predict'] / fwd['backbone']
    ms = lambda d, k: round(1e3 * d[k] / args.steps, 2)
    return dict(backbone=backbone, input_size=size, head=args.head, exits=model.exits, batch=args.batch, channels_last=args.channels_last,
                step_ms=dict(multi_exit=ms(sec, 'multi_exit'), backbone=ms(sec, 'backbone')),
                forward_ms=dict(multi_exit=ms(fwd, 'multi_exit'), backbone=ms(fwd, 'backbone'), predict_no_exit=ms(fwd, 'predict')),
                head_flops_share=round(share, 5), head_time_share=round(fwd['heads'] / fwd['backbone'], 3),
                ratio=round(ratio, 3), forward_ratio=round(fwd_ratio, 3), predict_ratio=round(pred_ratio, 3),
                goal=round(goal, 3), ok=bool(ratio <= goal), predict_ok=bool(pred_ratio <= goal))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--backbone', nargs='+', default=['cnn', 'resnet20'], help='BACKBONES names or tv:<torchvision name>')
    ap.add_argument('--head', default='pooled', help='a HEADS name')
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--steps', type=int, default=10, help='training steps per timed repeat')
    ap.add_argument('--repeats', type=int, default=7)
    ap.add_argument('--channels-last', action='store_true', help='model, heads and batch in channels-last memory format')
    ap.add_argument('--threads', type=int, default=None, help='torch threads (default: torch decides)')
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--quick', action='store_true', help='3 steps, 3 repeats, 1 thread')
    args = ap.parse_args()
    if args.quick: args.steps, args.repeats, args.threads = 3, 3, args.threads or 1
    if args.threads: torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    runs = [bench(b, args, dev) for b in args.backbone]
    print(json.dumps(dict(device=str(dev), threads=torch.get_num_threads(), torch=torch.__version__, machine=platform.machine(), device_name=device_name(dev),
                          steps=args.steps, repeats=args.repeats, runs=runs), indent=1))
    ok = lambda v: 'ok' if v else 'missed'
    print(f"IC overhead, batch {args.batch}, {torch.get_num_threads()} thread(s), {dev}{', channels-last' if args.channels_last else ''}: " + '; '.join(
        f"{r['backbone']} + {len(r['exits'])} {r['head']} ICs: train step ratio {r['ratio']:.3f} (goal ≤ {r['goal']:.3f}: {ok(r['ok'])}), "
        f"predict with no exit firing / plain forward {r['predict_ratio']:.3f} (goal ≤ {r['goal']:.3f}: {ok(r['predict_ok'])}), "
        f"multi-exit forward {r['forward_ratio']:.3f}, ICs' forward alone {r['head_time_share']:.3f}" for r in runs))


if __name__ == '__main__': main()
