"""Benchmark of the training overhead of the ICs: seconds per training step (forward, SDN loss over every exit, backward,
SGD step) of the `MultiExit` model against the plain backbone alone, on the same batch, in the same process. A plain
script, not a test: prints JSON, then one summary line.

    .venv/bin/python bench/train_overhead.py [--backbone cnn] [--head pooled] [--batch 128] [--steps 10] [--repeats 7]
                                             [--threads T] [--quick]

The backbone is `create_backbone(<backbone>, 10, 1, 28)` on one Fashion-MNIST batch; the multi-exit model wraps the
same backbone (`exits='auto'`), so both update the same weights. The two alternate per repeat (`--steps` steps each);
the ratio of the median times is printed next to `1 + share`, share = the heads' FLOPs / the backbone's FLOPs
(`eearly.flops.exit_cost_table`, forward, counted FLOPs only: pooling, normalisation and activations count as 0).
Goal: ratio ≤ 1 + share + 0.05. The same for the forward alone (eval mode, `torch.inference_mode`) tells the forward's
part, and the ICs' forward alone on stored features, over the backbone's forward, their measured time share. `--quick`: 3 steps, 3 repeats, 1 thread.
"""
from __future__ import annotations
import argparse, json, platform, statistics, time
import torch
import torch.nn.functional as F
from eearly.data import load_dataset
from eearly.flops import exit_cost_table
from eearly.heads import MultiExit
from eearly.methods import Method, method_loss
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


def heads_only(model, x, n):
    "Forward of the ICs alone on the backbone's features at the exits (computed once, untimed)."
    with torch.inference_mode():
        feats, h = [], x
        for s in model.stages[:-1]: h = s(h); feats.append(h)
    def run():
        with torch.inference_mode():
            for _ in range(n): [hd(f) for hd, f in zip(model.heads, feats)]
    return run


def interleaved(runs: dict, repeats: int) -> dict:
    "Median seconds of each function in `runs` over `repeats`, in alternating order, after one untimed warm-up each."
    for f in runs.values(): f()
    names, times = list(runs), {k: [] for k in runs}
    for r in range(repeats):
        for k in (names if r % 2 == 0 else names[::-1]):
            t = time.perf_counter(); runs[k](); times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--backbone', default='cnn', help='a BACKBONES name or tv:<torchvision name>, built for 1×28×28 inputs')
    ap.add_argument('--head', default='pooled', help='a HEADS name')
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--steps', type=int, default=10, help='training steps per timed repeat')
    ap.add_argument('--repeats', type=int, default=7)
    ap.add_argument('--threads', type=int, default=None, help='torch threads (default: torch decides)')
    ap.add_argument('--quick', action='store_true', help='3 steps, 3 repeats, 1 thread')
    args = ap.parse_args()
    if args.quick: args.steps, args.repeats, args.threads = 3, 3, args.threads or 1
    if args.threads: torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x, y = load_dataset('fashion_mnist').__getitems__(list(range(args.batch)))
    model = MultiExit(create_backbone(args.backbone, 10, 1, 28), head=args.head)
    bb, method = model.backbone, Method('sdn')
    tab = exit_cost_table(model)
    share = tab.head_flops.sum() / tab.backbone_flops.iloc[-1]
    model.train()
    sec = interleaved({'multi_exit': steps(model, x, y, lambda outs, y: method_loss(model, method, outs, y)[0], args.steps),
                       'backbone': steps(bb, x, y, F.cross_entropy, args.steps)}, args.repeats)
    model.eval()
    fwd = interleaved({'multi_exit': forwards(model, x, args.steps), 'backbone': forwards(bb, x, args.steps),
                       'heads': heads_only(model, x, args.steps)}, args.repeats)
    ratio, fwd_ratio = sec['multi_exit'] / sec['backbone'], fwd['multi_exit'] / fwd['backbone']
    res = dict(device='cpu', threads=torch.get_num_threads(), torch=torch.__version__, machine=platform.machine(),
               backbone=args.backbone, head=args.head, exits=model.exits, batch=args.batch, steps=args.steps, repeats=args.repeats,
               step_ms=dict(multi_exit=round(1e3 * sec['multi_exit'] / args.steps, 2), backbone=round(1e3 * sec['backbone'] / args.steps, 2)),
               forward_ms=dict(multi_exit=round(1e3 * fwd['multi_exit'] / args.steps, 2), backbone=round(1e3 * fwd['backbone'] / args.steps, 2)),
               head_flops_share=round(float(share), 5), head_time_share=round(fwd['heads'] / fwd['backbone'], 3), ratio=round(ratio, 3), forward_ratio=round(fwd_ratio, 3),
               goal=round(1 + float(share) + 0.05, 3), ok=bool(ratio <= 1 + share + 0.05))
    print(json.dumps(res, indent=1))
    print(f"train step {args.backbone} + {len(model.heads)} {args.head} ICs, batch {args.batch}, {res['threads']} thread(s): "
          f"{res['step_ms']['multi_exit']:.1f} ms vs backbone {res['step_ms']['backbone']:.1f} ms, ratio {ratio:.3f} "
          f"(1 + heads' FLOPs share = {1 + share:.3f}; goal ≤ {res['goal']:.3f}: {'ok' if res['ok'] else 'missed'}); "
          f"forward alone {fwd_ratio:.3f}, the ICs' forward alone {res['head_time_share']:.3f} of the backbone's")


if __name__ == '__main__': main()
