"""Faults during training: a run killed with SIGKILL mid-phase resumes to the same result, and a corrupt checkpoint is
refused with a warning and never changes the result."""
import json, os, re, signal, subprocess, sys, time
from pathlib import Path
import pytest
import torch
import eearly.regimes
from eearly.regimes import CheckpointError, load_checkpoint
from eearly.runs import RunConfig, run, run_dir

ROOT = Path(__file__).resolve().parents[1]
TIMING = ('wall_seconds', 'train_seconds', 'seconds')  # wall-clock fields: allowed to differ
PROVENANCE = ('phase1_reused', 'reused')  # whether phase 1 was trained by the run or read from the shared cache


def _metrics(d: Path) -> dict:
    "A run's metrics without wall times and provenance (per phase too)."
    keep = lambda m: {k: v for k, v in m.items() if k not in TIMING + PROVENANCE}
    m = keep(json.loads((d/'metrics.json').read_text()))
    return dict(m, phases=[keep(p) for p in m['phases']])

def _assert_same_run(a: Path, b: Path):
    assert _metrics(a) == _metrics(b)
    wa, wb = (torch.load(d/'model.pt', weights_only=True) for d in (a, b))
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa), [k for k in wa if not torch.equal(wa[k], wb[k])]

def _only_run(results: Path) -> Path:
    dirs = [p for p in results.iterdir() if p.is_dir() and not p.name.startswith('.')]  # not the shared phase 1 or the locks
    assert len(dirs) == 1, dirs
    return dirs[0]


# (a) SIGKILL inside a phase, then rerun: the same metrics and bit-identical weights as an uninterrupted run.
# mixed with total_epochs=6: phase 1 trains the backbone for 3 epochs, phase 2 everything for 3 (about a second an epoch
# on one core). The kill comes as soon as `last.pt` says phase 2 has finished its first epoch, so two epochs and the
# evaluation are still ahead.
ARGS = ('dataset=digits', 'backbone=cnn', 'regime=mixed', 'total_epochs=6', 'batch_size=32', 'test_subset=200')

def _launch(results: Path, log: Path):
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    return subprocess.Popen([sys.executable, '-m', 'eearly.runs', '--results-dir', str(results), *ARGS],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(log, 'wb'))

def _wait_inside_phase2(proc, results: Path, timeout=300) -> dict:
    "Poll until `last.pt` of the only run under `results` resumes inside phase 2; its (phase, epoch)."
    end, seen = time.time() + timeout, None
    while time.time() < end:
        assert proc.poll() is None, 'the run ended before it could be killed inside phase 2; make it longer'
        last = next(results.glob('*/last.pt'), None)
        if last is not None and (mt := last.stat().st_mtime_ns) != seen:
            seen = mt
            st = load_checkpoint(last)  # fit writes atomically: whatever is there is whole
            if st['phase'] == 1 and st['epoch'] >= 1: return dict(phase=st['phase'], epoch=st['epoch'])
        time.sleep(0.02)
    raise TimeoutError('the run never reached phase 2')

def test_sigkill_mid_phase_then_resume_is_bit_identical(tmp_path):
    ref_dir, kill_dir = tmp_path/'ref', tmp_path/'killed'
    ref = _launch(ref_dir, tmp_path/'ref.log')  # the uninterrupted run, alongside
    victim = _launch(kill_dir, tmp_path/'killed.log')
    try:
        at = _wait_inside_phase2(victim, kill_dir)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=60)
    finally:
        if victim.poll() is None: victim.kill()
    assert victim.returncode == -signal.SIGKILL
    d = _only_run(kill_dir)
    assert not (d/'metrics.json').exists() and not (d/'model.pt').exists(), 'killed after it finished: the test proves nothing'
    st = load_checkpoint(d/'last.pt')
    assert st['phase'] == 1 and 1 <= st['epoch'] < 3, (at, st['phase'], st['epoch'])  # mid-phase 2 of (3, 3)
    assert (d/'phase1_backbone.pt').exists() and not (d/'phase2_all.pt').exists()

    resumed = _launch(kill_dir, tmp_path/'resumed.log')
    assert resumed.wait(timeout=600) == 0, (tmp_path/'resumed.log').read_text()[-3000:]
    assert ref.wait(timeout=600) == 0, (tmp_path/'ref.log').read_text()[-3000:]
    assert _only_run(ref_dir).name == d.name  # same config, same code: same run key
    hist = json.loads((d/'history.json').read_text())['records']
    assert [(r['phase'], r['epoch']) for r in hist] == [(0, e) for e in range(3)] + [(1, e) for e in range(3)]
    _assert_same_run(_only_run(ref_dir), d)
    assert not (d/'last.pt').exists() and not (d/'last.prev.pt').exists()


# (b) A truncated `last.pt` through `eearly.runs.run`: refused with a warning naming the file and why; the run resumes
# from `last.prev.pt` (one epoch earlier) or, when that is truncated too, starts again, and ends bit-identical.
CFG = RunConfig(dataset='digits', subset=300, test_subset=100, backbone='cnn', backbone_kw=dict(widths=[8, 16, 16]),
                regime='mixed', total_epochs=4, batch_size=32)

class _Crash(Exception): pass

def _crash_in_epoch(monkeypatch, n):
    "Make the `n`-th training epoch of the next run raise, as if the process died there (the epochs before are saved)."
    real, calls = eearly.regimes.Learner.one_epoch, [0]
    def flaky(*a, **kw):
        calls[0] += 1
        if calls[0] == n: raise _Crash(f'crash in epoch {n}')
        return real(*a, **kw)
    monkeypatch.setattr(eearly.regimes.Learner, 'one_epoch', flaky)

def _truncate(p: Path): p.write_bytes(p.read_bytes()[:p.stat().st_size // 2])

@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    res = tmp_path_factory.mktemp('ref')
    run(CFG, res)
    return run_dir(CFG, res)

@pytest.mark.parametrize('corrupt, fallback', [(('last.pt',), r'resuming from last\.prev\.pt, the checkpoint one epoch earlier'),
                                               (('last.pt', 'last.prev.pt'), r'starting the run from the beginning')],
                         ids=['last', 'last-and-prev'])
def test_truncated_checkpoint_resumes_bit_identical(corrupt, fallback, reference, tmp_path, monkeypatch):
    with monkeypatch.context() as mp:
        _crash_in_epoch(mp, 4)  # epochs 1-3 done: phase 1 (2 epochs) and one epoch of phase 2
        with pytest.raises(_Crash): run(CFG, tmp_path)
    d = run_dir(CFG, tmp_path)
    assert sorted(p.name for p in d.glob('*.pt')) == ['last.prev.pt', 'last.pt', 'phase1_backbone.pt']
    for f in corrupt: _truncate(d/f)
    with pytest.warns(UserWarning) as w: run(CFG, tmp_path)
    msgs = [str(x.message) for x in w if str(x.message).startswith('checkpoint:')]
    assert len(msgs) == len(corrupt), msgs
    for m, f in zip(msgs, corrupt): assert m.startswith(f'checkpoint: {d/f} is corrupt or unreadable ('), m
    assert re.search(fallback + '$', msgs[-1]), msgs[-1]
    _assert_same_run(reference, d)

def test_checkpoint_of_another_architecture_is_an_error(reference, tmp_path, monkeypatch):
    "A readable `last.pt` that does not fit the model is a CheckpointError, never skipped or half-loaded."
    other = RunConfig(**{**CFG.__dict__, 'backbone_kw': dict(widths=[8, 16, 32])})
    with monkeypatch.context() as mp:
        _crash_in_epoch(mp, 2)
        with pytest.raises(_Crash): run(other, tmp_path)
    d = run_dir(CFG, tmp_path)
    d.mkdir(parents=True)
    (run_dir(other, tmp_path)/'last.pt').rename(d/'last.pt')
    with pytest.raises(CheckpointError, match=r'checkpoint: .*last\.pt does not fit this model'): run(CFG, tmp_path)
    assert not (d/'metrics.json').exists()


def test_process_pool_runs_land_in_the_cache(tmp_path):
    "`run_many(executor=ProcessPoolExecutor)`: the workers' runs are the ones a later in-process call reads from the cache."
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from dataclasses import replace
    from eearly.runs import run_many
    pair = [replace(CFG, regime='joint', total_epochs=1, seed=s) for s in (0, 1)]
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context('spawn')) as ex:
        pooled = run_many(pair, tmp_path, progress=False, executor=ex)
    again = run_many(pair, tmp_path, progress=False)
    assert pooled.seed.tolist() == [0, 1]
    assert pooled.wall_seconds.tolist() == again.wall_seconds.tolist()  # read back, not trained again
    assert len([p for p in tmp_path.iterdir() if not p.name.startswith('.')]) == 2
