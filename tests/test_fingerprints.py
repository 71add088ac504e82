"""The run keys' safety net: pinned fingerprints per regime and method, edits that change nothing keep every key, and a
change of behaviour without a version bump fails (tested on a mutated copy of the library)."""
import json, os, shutil, subprocess, sys
from pathlib import Path
import pytest
import eearly
from fingerprints import CASES, PINS, check, cpu_kind

TRAINING_MODULES = ('data', 'models', 'heads', 'methods', 'regimes', 'runs', 'evaluate', 'flops')
LOSS = '    loss = (w * per_exit).sum()\n'  # in eearly/methods.py: `method_loss`


@pytest.mark.parametrize('name', CASES)
def test_fingerprint(name):
    assert (why := check(name)) is None, why


def _copy(tmp_path, edit) -> Path:
    "A copy of the library under `tmp_path` with `edit(module name, source) -> source` applied to each training module."
    lib = tmp_path/'eearly'
    shutil.copytree(Path(eearly.__file__).parent, lib, ignore=shutil.ignore_patterns('__pycache__'))
    for m in TRAINING_MODULES: (lib/f'{m}.py').write_text(edit(m, (lib/f'{m}.py').read_text()))
    return tmp_path


def _in_copy(copy: Path, code: str) -> str:
    "Run `code` in a fresh interpreter that imports the library from `copy`; its last stdout line."
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(copy), str(Path(__file__).parent)]), OMP_NUM_THREADS='1')
    pre = f'import eearly; assert eearly.__file__.startswith({str(copy)!r}), eearly.__file__\n'
    out = subprocess.run([sys.executable, '-c', pre + code], env=env, capture_output=True, text=True, cwd=copy, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1]


KEYS = 'import json; from fingerprints import CASES; from eearly.runs import run_key; print(json.dumps({n: run_key(c) for n, c in CASES.items()}))'


def test_a_comment_changes_no_run_key(tmp_path):
    from eearly.runs import run_key
    copy = _copy(tmp_path, lambda m, s: f'# a comment added to {m}.py\n' + s.replace('\ndef ', '\n# and one before a function\ndef ', 1))
    assert json.loads(_in_copy(copy, KEYS)) == {n: run_key(c) for n, c in CASES.items()}
    assert _in_copy(copy, "from fingerprints import check; print(check('mixed-sdn'))") == 'None'  # and trains the same weights


def test_a_loss_scaled_by_1_0001_fails_a_fingerprint(tmp_path):
    assert LOSS in (Path(eearly.__file__).parent/'methods.py').read_text(), 'the line this test mutates moved: update LOSS'
    pinned = cpu_kind() in json.loads(PINS.read_text())['joint-sdn']['hash']
    factor = '1.0001' if pinned else '1.5'  # a kind with no pinned hash has only the norms' tolerance (fingerprints.py)
    copy = _copy(tmp_path, lambda m, s: s.replace(LOSS, LOSS.rstrip('\n') + f' * {factor}\n') if m == 'methods' else s)
    why = _in_copy(copy, "from fingerprints import check; print(check('joint-sdn'))")
    assert 'without a version bump' in why, why
    # the keys did not move: without the fingerprint, the mutated code would have reused every stored run
    assert json.loads(_in_copy(copy, KEYS))['joint-sdn'] == json.loads(_in_copy(_copy(tmp_path/'plain', lambda m, s: s), KEYS))['joint-sdn']


def test_the_norms_tolerance_catches_a_gross_change(tmp_path):
    "Where no hash is pinned (another CPU kind), the pinned norms still catch a loss scaled by 1.5."
    copy = _copy(tmp_path, lambda m, s: s.replace(LOSS, LOSS.rstrip('\n') + ' * 1.5\n') if m == 'methods' else s)
    code = ("import json; from fingerprints import check, PINS\n"
            "pins = json.loads(PINS.read_text()); pins['joint-sdn']['hash'] = {}\n"
            "print(check('joint-sdn', pins))")
    why = _in_copy(copy, code)
    assert 'tolerance' in why, why
