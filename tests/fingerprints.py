"""Fingerprints of the training behaviour: tiny deterministic runs whose weights are pinned in `fingerprints.json`.

A run's key hashes its config and the versions of the behaviour it uses (`eearly.runs.training_versions`), not the
source, so a change that trains other weights must bump a version. These runs catch one that does not: each trains a
small `cnn` on digits for 1 + 1 epochs (2 for joint) with one torch thread, once per regime and per method, and its
weights must equal the pinned ones.

Float reduction order differs between CPU kinds, so a bit-exact hash is pinned per CPU kind (`cpu_kind`: torch's
vector ISA and the CPU vendor); on a pinned kind a loss scaled by 1.0001 fails (tests/test_fingerprints.py). On a kind
with no pinned hash the check falls back on the pinned per-tensor L2 norms within `RTOL`, which catches only gross
changes: these short runs are chaotic, and 2 torch threads instead of 1 already move a norm by up to 1e-2 (GPF)
(`python tests/fingerprints.py --noise`), so `RTOL` is ten times that, and a loss scaled by 1.5 fails there.

`python tests/fingerprints.py --pin` pins this CPU kind: after a version bump (the other kinds' hashes of the cases
whose versions moved are dropped, so the tolerance applies there until they are pinned again), or to add a kind, from
a checkout whose fingerprints pass on a pinned kind.
"""
import hashlib, json, os, platform, sys, tempfile
from dataclasses import replace
from pathlib import Path
import torch
from eearly.io import cpu_isa
from eearly.runs import RunConfig, run, run_dir, training_versions

PINS = Path(__file__).with_name('fingerprints.json')
RTOL = 0.1
BASE = RunConfig(dataset='digits', backbone='cnn', backbone_kw=dict(widths=[8, 16, 16]), exits=['blocks.0', 'blocks.1'],
                 total_epochs=2, batch_size=64, test_subset=100, seed=0, snapshots=False)
CASES = {f'{r}-sdn': replace(BASE, regime=r) for r in ('joint', 'disjoint', 'mixed')} | \
        {f'mixed-{m}': replace(BASE, regime='mixed', method=m) for m in ('ztw', 'gpf', 'gpf_eeb')}


def cpu_kind() -> str:
    "torch's vector ISA on this CPU and the CPU's vendor, e.g. 'AVX2-AuthenticAMD': what float results depend on."
    vendor = next((l.split(':', 1)[1].strip() for l in Path('/proc/cpuinfo').read_text().splitlines() if l.startswith('vendor_id')),
                  platform.processor()) if Path('/proc/cpuinfo').exists() else platform.processor()
    return f"{cpu_isa()}-{vendor}"


def trained_weights(cfg: RunConfig, threads: int = 1) -> dict:
    "The final weights of `cfg` trained by `eearly.runs.run`, as every stored run is, in an empty results folder and no store, with `threads` torch threads."
    old, store = torch.get_num_threads(), os.environ.pop('EEARLY_STORE', None)
    torch.set_num_threads(threads)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run(cfg, tmp)
            return torch.load(run_dir(cfg, tmp)/'model.pt', weights_only=True)
    finally:
        torch.set_num_threads(old)
        if store is not None: os.environ['EEARLY_STORE'] = store


def weight_hash(sd: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(sd): h.update(k.encode()); h.update(sd[k].contiguous().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def summary(sd: dict) -> dict:
    "The L2 norm (float64) of each floating tensor."
    return {k: v.double().norm().item() for k, v in sorted(sd.items()) if v.is_floating_point()}


def rel_diff(a: dict, b: dict) -> float:
    "The largest relative difference between the norms of two summaries."
    if a.keys() != b.keys(): return float('inf')
    return max(abs(a[k] - b[k]) / max(abs(b[k]), 1e-12) for k in a)


def check(name: str, pins: dict = None) -> str:
    "None when case `name` trains as pinned, else why not."
    pins = json.loads(PINS.read_text()) if pins is None else pins
    cfg, pin = CASES[name], pins.get(name)
    if pin is None: return f'{name}: not pinned; run `python tests/fingerprints.py --pin`'
    if pin['versions'] != training_versions(cfg):
        return (f"{name}: pinned under versions {pin['versions']}, the code has {training_versions(cfg)}: "
                'a version was bumped, so re-pin with `python tests/fingerprints.py --pin`')
    sd = trained_weights(cfg)
    bump = 'the training behaviour changed without a version bump: bump the version of what you changed (see eearly.runs.training_versions)'
    if (want := pin['hash'].get(cpu_kind())) is not None:
        return None if weight_hash(sd) == want else f'{name}: weights hash {weight_hash(sd)}, pinned {want} on {cpu_kind()}: {bump}'
    d = rel_diff(summary(sd), pin['summary'])
    return None if d <= RTOL else f'{name}: weights differ from the pinned ones by {d:.2e} (tolerance {RTOL:g}, no hash pinned for {cpu_kind()}): {bump}'


def pin():
    "Pin every case on this CPU kind; keep other kinds' hashes of the cases whose versions did not move."
    pins = json.loads(PINS.read_text()) if PINS.exists() else {}
    for name, cfg in CASES.items():
        sd, old = trained_weights(cfg), pins.get(name, {})
        same = old.get('versions') == training_versions(cfg)
        hashes = (old.get('hash', {}) if same else {}) | {cpu_kind(): weight_hash(sd)}
        pins[name] = dict(versions=training_versions(cfg), hash=hashes, summary=old['summary'] if same else summary(sd))
        print(name, pins[name]['hash'])
    PINS.write_text(json.dumps(pins, indent=1, sort_keys=True) + '\n')


def noise():
    "How far 2 threads move each case's summary from 1 thread's: the floor under RTOL."
    for name, cfg in CASES.items(): print(name, f'{rel_diff(summary(trained_weights(cfg, 2)), summary(trained_weights(cfg, 1))):.2e}')


if __name__ == '__main__':
    {'--pin': pin, '--noise': noise}[sys.argv[1]]()
