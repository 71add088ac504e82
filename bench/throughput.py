"""Benchmark of training throughput against this machine's peak: the dense matmul peak (fp32, bf16), the training step
of `cnn`, `resnet20` and `vit_mini` (multi-exit with their auto pooled ICs, and the plain backbone), one `fit` epoch of
the `cnn` multi-exit model on Fashion-MNIST and the evaluation of its test set. A plain script, not a test: prints JSON,
then one summary line.

    .venv/bin/python bench/throughput.py [--variant none|channels_last|compile|batch|augment|eval_batch]
                                         [--variant-batch 256] [--models cnn resnet20 vit_mini] [--batch 128]
                                         [--steps 5] [--repeats 5] [--fit-images 20000] [--fit-epochs 1] [--eval-images 10000]
                                         [--threads 2] [--peak-n 2048] [--device cpu] [--quick]

Throughput is GFLOP/s = 3 × forward FLOPs per image × images / seconds (backward ≈ 2 forwards), the FLOPs counted by
`eearly.flops` (the multi-exit model: backbone and heads; the plain step and the epoch: the backbone alone), and
as a fraction of the fp32 matmul peak measured at the start of the same run (`--peak-n`², best of 10; bf16 at 512², best of 3:
on a CPU without native bf16 kernels, e.g. an AVX2-only AMD EPYC, a 2048² bf16 matmul takes about 20 s).
`cnn` runs on 1×28×28 inputs, `resnet20` and `vit_mini` on 3×32×32; the steps use random inputs, the epoch
`get_dataloaders('fashion_mnist', subset=--fit-images)` (90 % trained on, joint SDN training, lr 0.05) and reports the
final exit's test accuracy too.

`--variant` measures one candidate speed-up against the baseline, interleaved in the same run (ABAB… for the steps,
ABBA for the epochs), and prints the ratio variant / baseline of the throughput:
- `channels_last`: model (`eearly.heads.to_channels_last`), inputs and heads in channels-last memory format;
- `compile`: `torch.compile` of the model (steps only; the first call, which compiles, is untimed);
- `batch`: batch `--variant-batch` instead of `--batch` (steps and epoch; lr unchanged);
- `augment`: the epoch with the batched tensor augmentation on (`augment_batch`) against off;
- `eval_batch`: the test-set evaluation (`collect_logits`, `inference_mode`) at batch `--variant-batch` × 4 against `--batch`.
`--quick`: peak at 1024², 2 steps × 3 repeats, `cnn` and `resnet20` only, a 4000-image epoch, 2000 test images.
"""
from __future__ import annotations
import argparse, json, statistics, sys, time
import torch
from eearly.data import get_dataloaders
from eearly.evaluate import collect_logits
from eearly.flops import count_flops, exit_flops
from eearly.heads import MultiExit, to_channels_last
from eearly.methods import as_method, method_loss
from eearly.models import create_backbone
from eearly.regimes import fit
import torch.nn.functional as F
from train_overhead import device_name, interleaved, steps, sync  # bench/ is on sys.path when a script runs from it

SHAPES = {'cnn': (1, 28, 28), 'resnet20': (3, 32, 32), 'vit_mini': (3, 32, 32)}
VARIANTS = ('none', 'channels_last', 'compile', 'batch', 'augment', 'eval_batch')


def log(*a): print(*a, file=sys.stderr, flush=True)  # progress on stderr: survives a later crash


def matmul_peak(n, dtype, dev, reps=10):
    "Best GFLOP/s of an n×n matmul over `reps` calls."
    a, b = torch.randn(n, n, device=dev, dtype=dtype), torch.randn(n, n, device=dev, dtype=dtype)
    a @ b
    best = float('inf')
    for _ in range(reps):
        sync(dev); t = time.perf_counter(); a @ b; sync(dev)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def step_setup(name, variant, batch, dev, seed=0):
    "(multi-exit model, net to call, plain backbone net, x, y) for one side of the comparison."
    torch.manual_seed(seed)
    model = MultiExit(create_backbone(name, 10, SHAPES[name][0], SHAPES[name][1])).to(dev)
    x, y = torch.randn(batch, *SHAPES[name], device=dev), torch.randint(0, 10, (batch,), device=dev)
    if variant == 'channels_last':
        to_channels_last(model)
        x = x.contiguous(memory_format=torch.channels_last)
    net, bb = model, model.backbone
    if variant == 'compile': net, bb = torch.compile(model), torch.compile(model.backbone)
    return model, net, bb, x, y


def bench_steps(name, args, dev, peak):
    "Training step of the multi-exit model and of the plain backbone, baseline (and variant), as GFLOP/s and fraction of peak."
    sides = ['baseline'] + ([args.variant] if args.variant in ('channels_last', 'compile', 'batch') else [])
    method, runs, flops, batch = as_method('sdn'), {}, {}, {}
    for side in sides:
        bs = args.variant_batch if side == 'batch' else args.batch
        model, net, bb, x, y = step_setup(name, side, bs, dev)
        flops[side] = dict(multi_exit=exit_flops(model)[-1], backbone=count_flops(model.backbone, SHAPES[name]))
        batch[side] = bs
        model.train()
        runs[(side, 'multi_exit')] = steps(net, x, y, lambda o, y, m=model: method_loss(m, method, o, y)[0], args.steps)
        runs[(side, 'backbone')] = steps(bb, x, y, F.cross_entropy, args.steps)
    sec = interleaved(runs, args.repeats, dev)
    out = {}
    for (side, kind), s in sec.items():
        gf = 3 * flops[side][kind] * batch[side] * args.steps / s / 1e9
        out.setdefault(side, {})[kind] = dict(batch=batch[side], step_ms=round(1e3 * s / args.steps, 2), gflops=round(gf, 1),
                                              frac_peak=round(gf / peak, 3))
    if len(sides) == 2:
        out['ratio'] = {k: round(out[sides[1]][k]['gflops'] / out['baseline'][k]['gflops'], 3) for k in ('multi_exit', 'backbone')}
    return out


def fit_once(side, args, dev, seed=0):
    "(images/s, final-exit test accuracy) of `--fit-epochs` epochs of joint SDN training of the `cnn` multi-exit model."
    bs = args.variant_batch if side == 'batch' else args.batch
    cl = side == 'channels_last'
    dls = get_dataloaders('fashion_mnist', bs, val_frac=0.1, seed=seed, subset=args.fit_images, augment=side == 'augment',
                          channels_last=cl)
    torch.manual_seed(seed)
    model = MultiExit(create_backbone('cnn', 10, 1, 28)).to(dev)
    if cl: to_channels_last(model)
    sync(dev); t = time.perf_counter()
    fit(model, 'joint', dls.train, phase_epochs=(args.fit_epochs,), lr=0.05, seed=seed, method='sdn', device=dev)
    sync(dev); sec = time.perf_counter() - t
    logits, labels = collect_logits(model, dls.test)
    return len(dls.train.dataset) * args.fit_epochs / sec, (logits[-1].argmax(-1) == labels).float().mean().item()


def bench_fit(args, dev, peak):
    "One `fit` run per side (ABBA when there is a variant): images/s, backbone GFLOP/s, fraction of peak, test accuracy."
    bb_flops = count_flops(create_backbone('cnn', 10, 1, 28), SHAPES['cnn'])
    sides = ['baseline'] + ([args.variant] if args.variant in ('channels_last', 'batch', 'augment') else [])
    order = sides + sides[::-1] if len(sides) == 2 else sides
    got = {s: [] for s in sides}
    for s in order: got[s].append(fit_once(s, args, dev))
    out = {}
    for s, v in got.items():
        ips = statistics.median(r[0] for r in v)
        gf = 3 * bb_flops * ips / 1e9
        out[s] = dict(images_s=round(ips, 1), gflops=round(gf, 1), frac_peak=round(gf / peak, 3), test_acc=[round(r[1], 4) for r in v])
    if len(sides) == 2: out['ratio'] = round(out[sides[1]]['images_s'] / out['baseline']['images_s'], 3)
    return out


def bench_eval(args, dev):
    "Seconds to collect every exit's logits on `--eval-images` test images (`inference_mode`), batch `--batch` and (variant) 4 × `--variant-batch`."
    torch.manual_seed(0)
    model = MultiExit(create_backbone('cnn', 10, 1, 28)).to(dev)
    sizes = {'baseline': args.batch, **({'eval_batch': 4 * args.variant_batch} if args.variant == 'eval_batch' else {})}
    loaders = {s: get_dataloaders('fashion_mnist', b, val_frac=0, augment=False, test_subset=args.eval_images).test for s, b in sizes.items()}
    sec = interleaved({s: (lambda dl=dl: collect_logits(model, dl, dev)) for s, dl in loaders.items()}, max(2, args.repeats // 2), dev)
    out = {s: dict(batch=sizes[s], seconds=round(sec[s], 3), images_s=round(len(loaders[s].dataset) / sec[s], 1)) for s in sizes}
    if len(sizes) == 2: out['ratio'] = round(sec['baseline'] / sec['eval_batch'], 3)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--variant', default='none', choices=VARIANTS, help='the candidate speed-up measured against the baseline')
    ap.add_argument('--variant-batch', type=int, default=256, help="the batch size of the 'batch' variant (eval_batch: 4 × it)")
    ap.add_argument('--models', nargs='+', default=list(SHAPES), choices=list(SHAPES))
    ap.add_argument('--batch', type=int, default=128, help='the default batch size (RunConfig.batch_size)')
    ap.add_argument('--steps', type=int, default=5, help='training steps per timed repeat')
    ap.add_argument('--repeats', type=int, default=5)
    ap.add_argument('--fit-images', type=int, default=20000, help='Fashion-MNIST training subset of the epoch (90 %% trained on)')
    ap.add_argument('--fit-epochs', type=int, default=1)
    ap.add_argument('--eval-images', type=int, default=10000, help='Fashion-MNIST test images of the evaluation')
    ap.add_argument('--threads', type=int, default=2, help='torch threads')
    ap.add_argument('--peak-n', type=int, default=2048, help='matrix size of the matmul peak')
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--quick', action='store_true', help='peak at 1024², 2 steps × 3 repeats, cnn and resnet20, a 4000-image epoch, 2000 test images')
    args = ap.parse_args()
    if args.quick:
        args.peak_n, args.steps, args.repeats, args.fit_images, args.eval_images = 1024, 2, 3, 4000, 2000
        args.models = [m for m in args.models if m != 'vit_mini']
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    # bf16 without AMX or AVX512-BF16 runs at a fraction of fp32 (below 1 GFLOP/s on AVX2 alone): a small matrix shows it
    peak = dict(fp32=round(matmul_peak(args.peak_n, torch.float32, dev), 1),
                bf16=round(matmul_peak(min(args.peak_n, 512), torch.bfloat16, dev, 3), 1))
    res = dict(device=str(dev), device_name=device_name(dev),
               threads=torch.get_num_threads(), torch=torch.__version__, variant=args.variant, peak_gflops=peak, steps={})
    log(f'peak {peak}')
    for name in args.models:
        res['steps'][name] = bench_steps(name, args, dev, peak['fp32'])
        log(name, json.dumps(res['steps'][name]))
    res['fit_epoch_cnn'] = bench_fit(args, dev, peak['fp32'])
    log('fit', json.dumps(res['fit_epoch_cnn']))
    res['eval_cnn'] = bench_eval(args, dev)
    print(json.dumps(res, indent=1))
    st = '; '.join(f"{n} {v['baseline']['multi_exit']['frac_peak']:.2f} (plain {v['baseline']['backbone']['frac_peak']:.2f})"
                   + (f", {args.variant} ×{v['ratio']['multi_exit']:.2f}" if 'ratio' in v else '') for n, v in res['steps'].items())
    fe = res['fit_epoch_cnn']
    print(f"throughput on {res['device']}, {res['threads']} thread(s), fp32 matmul peak {peak['fp32']} GFLOP/s (bf16 {peak['bf16']}): "
          f"training step, multi-exit fraction of peak: {st}; fit epoch cnn: {fe['baseline']['images_s']:.0f} images/s = "
          f"{fe['baseline']['frac_peak']:.2f} of peak (goal ≥ 0.5)" + (f", {args.variant} ×{fe['ratio']:.2f}" if 'ratio' in fe else '')
          + (f"; eval batch ×{res['eval_cnn']['ratio']:.2f}" if 'ratio' in res['eval_cnn'] else ''))


if __name__ == '__main__': main()
