"""The explorer as a person uses it: `make explore` (Voilà) and `make lab` (JupyterLab) in a real headless Chromium.

Selenium (pinned in settings.ini) drives Debian's `chromium` through Debian's `chromium-driver`; `make test` installs
both when it runs as root with apt. The numbers read off the page are checked against `eearly.evaluate` on the same
cached runs, so a widget that renders but shows a wrong (or stale) value fails here.
"""
import fcntl, json, math, os, re, shutil, signal, socket, subprocess, tempfile, time
from contextlib import contextmanager
from pathlib import Path
import pytest
import torch
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, TimeoutException
from selenium.webdriver import ActionChains
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait
from eearly.evaluate import budget_accuracy, exit_curve
from eearly.grids import grid_configs, run_params
from eearly.runs import run_dir, run_many

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT/'build'/'browser'  # screenshots, server logs, the JupyterLab copy of the notebook
RUNS = ROOT/'build'/'test-results'/'browser'  # the runs both tests show; cached across `make test` like the others
CHROMIUM, CHROMEDRIVER = Path('/usr/bin/chromium'), Path('/usr/bin/chromedriver')
# Four tiny Fashion-MNIST runs (mixed with two seeds, joint and disjoint with one), so that the page shows class names
# and a seed spread; about 15 s each to train once. No snapshots or gradient logging: the explorer reads only
# metrics.json and logits.pt.
_BASE = dict(run_params('fashion_mnist', 600, 300, 4, 32, 0.05, 'cnn'), snapshots=False, gradflow_every=0)
CONFIGS = grid_configs(_BASE, [0, 1], regime=['mixed']) + grid_configs(_BASE, [0], regime=['joint', 'disjoint'])
# The first of the notebook's SMOKE_RUNS (digits): its checks of `open_app` train it when it is missing.
SMOKE0 = grid_configs(run_params('digits', 0, 0, 2, 64, 0.05, 'cnn'), [0], regime=['joint'])[0]
# Voilà's lab template links Font Awesome from a CDN; its icons are bundled in voila.js too, so offline only that fails.
CDN_OK = re.compile(r'cdn\.jsdelivr\.net/npm/@fortawesome')


def need_browser():
    "Skip (fail under CI=true) when Debian's chromium or chromium-driver is missing."
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if not missing: return
    why = (f"no browser: {' and '.join(missing)} missing. `make test` installs Debian's chromium and chromium-driver "
           f"when it runs as root with apt; here it could not (run `sudo apt-get install chromium chromium-driver`)")
    if os.environ.get('CI') == 'true': pytest.fail(f'{why}. CI=true: the browser tests must run, not skip')
    pytest.skip(why)


@pytest.fixture(scope='module')
def runs():
    "The run folders of `CONFIGS`, trained once, and no others; a file lock keeps two pytest workers from training the same run."
    need_browser()
    RUNS.mkdir(parents=True, exist_ok=True)
    dirs = [run_dir(c, RUNS) for c in CONFIGS]
    with open(RUNS/'.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # runs of older code or settings: their folder names hash both
        for old in {p for p in RUNS.iterdir() if p.is_dir()} - {*dirs, run_dir(SMOKE0, RUNS)}: shutil.rmtree(old)
        run_many([*CONFIGS, SMOKE0], results_dir=RUNS, progress=False)
    return dirs


@pytest.fixture
def browser(request):
    "Headless Chromium at 1280x800 with a fresh profile and no background network traffic."
    need_browser()
    t0 = time.perf_counter()
    o = webdriver.ChromeOptions()
    o.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix='eearly-chromium-')
    for a in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
              '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage',
              f'--user-data-dir={profile}', '--window-size=1280,800'):
        o.add_argument(a)
    o.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    d = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=o)
    view(d, 1280, 800)
    yield d
    d.quit()
    shutil.rmtree(profile, ignore_errors=True)
    report(f'{request.node.name}: {time.perf_counter() - t0:.0f} s with the browser (servers included, training not)')


def view(d, w, h):
    "Make the page's viewport `w` x `h` CSS pixels (a headless window's size includes its frame)."
    d.execute_cdp_cmd('Emulation.setDeviceMetricsOverride', dict(width=w, height=h, deviceScaleFactor=1, mobile=False))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@contextmanager
def serve(make_args, port, log, **env):
    "Run `make *make_args` (a server on `port`) in its own process group; wait until the port answers; kill the group."
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT/log, 'w') as f:
        p = subprocess.Popen(['make', '-s', *make_args], cwd=ROOT, stdout=f, stderr=subprocess.STDOUT,
                             env={**os.environ, **env}, start_new_session=True)
        try:
            t0 = time.time()
            while True:
                assert p.poll() is None, f"make {' '.join(make_args)} exited with {p.returncode}: see {OUT/log}"
                assert time.time() - t0 < 120, f'nothing answers on port {port} after 120 s: see {OUT/log}'
                try:
                    socket.create_connection(('127.0.0.1', port), timeout=1).close()
                    break
                except OSError: time.sleep(0.3)
            yield p
        finally:
            os.killpg(p.pid, signal.SIGTERM)
            try: p.wait(timeout=20)
            except subprocess.TimeoutExpired: os.killpg(p.pid, signal.SIGKILL)


def wait(d, fn, timeout, what):
    "`fn(d)` once it is truthy; fails naming `what`. Widgets re-render their elements on changes: those are retried."
    retry = (NoSuchElementException, StaleElementReferenceException)
    try: return WebDriverWait(d, timeout, poll_frequency=0.02, ignored_exceptions=retry).until(lambda d: fn(d))
    except TimeoutException: pytest.fail(f'{what}: not within {timeout} s')


def text(d, cls) -> str: return d.find_element(By.CSS_SELECTOR, f'.eearly-{cls}').text


def readout(d, cls) -> float:
    "The value a slider shows in its readout."
    return float(d.find_element(By.CSS_SELECTOR, f'.eearly-{cls} .widget-readout').text)


def load(path: Path) -> dict:
    lg = torch.load(path/'logits.pt', weights_only=True)
    m = json.loads((path/'metrics.json').read_text())
    return dict(logits=lg['test_logits'].float(), labels=lg['test_labels'].long(), costs=[float(c) for c in m['costs']],
                bb=float(m['backbone_flops']), val_logits=lg['val_logits'], val_labels=lg['val_labels'], cfg=m['config'])


def expected(r: dict, thr: float) -> dict:
    "What the readouts must say at threshold `thr` (max-probability), from `exit_curve`."
    row = exit_curve(r['logits'], r['labels'], r['costs'], 'max_prob', [thr]).iloc[0]
    n, k = len(r['labels']), len(r['costs'])
    counts = [round(row[f'exit_frac_{i}'] * n) for i in range(k)]
    return dict(acc=f'{row.accuracy * 100:.2f} %', flops=f'{row.cost / r["bb"] * 100:.1f} % of the backbone',
                exits=f'(of {n}): ' + ' · '.join(f'exit {i}: {c}' for i, c in enumerate(counts)))


def assert_shows(d, want: dict):
    "The accuracy, FLOPs and per-exit readouts on the page contain `want`'s strings."
    got = dict(acc=text(d, 'acc'), flops=text(d, 'flops'), exits=text(d, 'exits'))
    for k, v in want.items(): assert v in got[k], f'{k}: the page shows {got[k]!r}, eearly.evaluate gives {v!r}'


def selected_run(d, runs) -> Path:
    "The run folder the seed dropdown shows: its label ends with the folder's config hash."
    label = Select(d.find_element(By.CSS_SELECTOR, '.eearly-run select')).first_selected_option.text
    key = re.search(r'\((\w+)\)$', label).group(1)
    return next((p for p in runs if p.name.endswith(key)), None)


def drag(d, cls, dx):
    "Drag the handle of slider `cls` by `dx` pixels and release it, as a person does."
    h = d.find_element(By.CSS_SELECTOR, f'.eearly-{cls} .noUi-handle')
    ActionChains(d).click_and_hold(h).move_by_offset(dx, 0).release().perform()


def timed_change(d, before, timeout=30) -> float:
    "Seconds until the info line differs from `before` (it names τ and the budget, so every move changes it)."
    t = time.perf_counter()
    wait(d, lambda d: text(d, 'info') != before, timeout, 'the readout to update after a slider move')
    return time.perf_counter() - t


def report(line: str):
    "Print `line` and keep it for the summary at the end of `make test` (tests/conftest.py shows it)."
    print(line)
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT/'timings.txt', 'a') as f: f.write(line + '\n')


def browser_errors(d) -> list:
    "Severe console entries except the Font Awesome CDN links that cannot load offline."
    return [e['message'] for e in d.get_log('browser') if e['level'] == 'SEVERE' and not CDN_OK.search(e['message'])]


def test_voila_app(runs, browser):
    d, port = browser, free_port()
    with serve(['explore', f'PORT={port}'], port, 'voila.log', EEARLY_RESULTS=str(RUNS)):
        t0 = time.perf_counter()
        d.get(f'http://127.0.0.1:{port}/')
        wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, '.eearly-acc') and text(d, 'acc'), 180, 'the widgets')
        shown_s = time.perf_counter() - t0
        report(f'Voilà: widgets shown {shown_s:.1f} s after the page was requested (kernel start, imports, first draw)')
        page = d.find_element(By.TAG_NAME, 'body').text
        assert 'How to read this' in page and 'Headless checks' not in page and 'scan_runs' not in page, page[:500]

        # it opens on the headline run (fashion_mnist cnn, mixed, sdn, seed 0) at max-probability τ = 0.9
        sel = lambda c: Select(d.find_element(By.CSS_SELECTOR, f'.eearly-{c} select')).first_selected_option.text
        assert (sel('model'), sel('regime'), sel('method'), sel('criterion')) == ('fashion_mnist/cnn', 'mixed', 'sdn', 'max_prob')
        mixed = selected_run(d, runs)
        assert mixed == runs[0], (mixed, runs[0])  # CONFIGS[0]: mixed, seed 0
        r = load(mixed)
        assert readout(d, 'thr') == 0.9
        assert_shows(d, expected(r, 0.9))
        names = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot')
        captions = [e.text for e in d.find_elements(By.CSS_SELECTOR, '.eearly-images .widget-html')]
        assert len(captions) == 8 and all(any(n in c for n in names) for c in captions), captions

        # the threshold slider, dragged: the readout follows, as exit_curve has it at the τ the slider shows
        plot = d.find_element(By.CSS_SELECTOR, '.eearly-plot').get_attribute('src')
        moves = []
        for dx in (-120, -60):
            before = text(d, 'info')
            drag(d, 'thr', dx)
            moves.append(timed_change(d, before))
            thr = readout(d, 'thr')
            wait(d, lambda d: f'τ = {thr:.4g} ' in text(d, 'info'), 10, f'the info line to name τ = {thr}')
            assert_shows(d, expected(r, thr))
        assert thr < 0.9
        assert d.find_element(By.CSS_SELECTOR, '.eearly-plot').get_attribute('src') != plot, 'the histogram was not redrawn'

        # from the threshold to the FLOPs budget: τ is the one budget_accuracy picks on the validation split
        d.find_element(By.XPATH, "//*[contains(@class, 'eearly-mode')]//button[normalize-space()='budget']").click()
        wait(d, lambda d: d.find_element(By.CSS_SELECTOR, '.eearly-budget').is_displayed()
             and not d.find_element(By.CSS_SELECTOR, '.eearly-thr').is_displayed(), 10, 'the budget slider')
        for dx in (0, -25):
            before = text(d, 'info')
            if dx:
                drag(d, 'budget', dx)
                moves.append(timed_change(d, before))
            b = readout(d, 'budget')
            wait(d, lambda d: f'within {b:.0%}' in text(d, 'info') or f'fits {b:.0%}' in text(d, 'info'), 10,
                 f'the info line to name the budget {b:.0%}')
            tab = budget_accuracy(r['logits'], r['labels'], r['costs'], r['bb'], [b], 'max_prob', r['val_logits'],
                                  r['val_labels'], calibrate=False).iloc[-1]
            assert tab.protocol == "calibrated" and not math.isnan(tab.threshold), tab  # something fits the budget
            assert_shows(d, dict(acc=f'{tab.accuracy * 100:.2f} %', flops=f'{tab.cost * 100:.1f} % of the backbone'))
            assert_shows(d, expected(r, tab.threshold))
        d.save_screenshot(str(OUT/'explore-budget.png'))

        # another regime: the numbers become that run's
        before = {c: text(d, c) for c in ('acc', 'flops', 'exits')}
        Select(d.find_element(By.CSS_SELECTOR, '.eearly-regime select')).select_by_visible_text('joint')
        wait(d, lambda d: selected_run(d, runs) != mixed, 20, 'the joint run to be selected')
        joint = selected_run(d, runs)
        assert load(joint)['cfg']['regime'] == 'joint'
        rj = load(joint)
        tab = budget_accuracy(rj['logits'], rj['labels'], rj['costs'], rj['bb'], [b], 'max_prob', rj['val_logits'],
                              rj['val_labels'], calibrate=False).iloc[-1]
        want = expected(rj, tab.threshold)
        wait(d, lambda d: want['exits'] in text(d, 'exits'), 20, 'the joint run\'s numbers')
        assert_shows(d, dict(want, acc=f'{tab.accuracy * 100:.2f} %'))
        assert {c: text(d, c) for c in before} != before

        # back to the threshold, for the screenshot in the README
        d.find_element(By.XPATH, "//*[contains(@class, 'eearly-mode')]//button[normalize-space()='threshold']").click()
        Select(d.find_element(By.CSS_SELECTOR, '.eearly-regime select')).select_by_visible_text('mixed')
        wait(d, lambda d: selected_run(d, runs) == mixed and d.find_element(By.CSS_SELECTOR, '.eearly-thr').is_displayed(),
             20, 'the mixed run in threshold mode')
        wait(d, lambda d: expected(r, readout(d, 'thr'))['exits'] in text(d, 'exits'), 20, 'the mixed run\'s numbers')
        # nothing sticks out of the window on the right
        wide = d.execute_script("return [...document.querySelectorAll('[class*=\"eearly-\"]')]"
                                ".filter(e => e.getBoundingClientRect().right > window.innerWidth).map(e => e.className)")
        assert not wide, f'wider than the 1280 px window: {wide}'
        d.execute_script('document.activeElement.blur()')  # no focus ring on the last dropdown in the screenshot
        d.save_screenshot(str(OUT/'explore.png'))
        view(d, 1280, 1400)  # the whole page, for a look at the images and captions below the fold
        d.save_screenshot(str(OUT/'explore-full.png'))
        view(d, 1280, 800)
        report(f'Voilà: slider moves answered in {", ".join(f"{s:.2f}" for s in moves)} s (goal: < 1 s); '
               f'screenshots in {OUT.relative_to(ROOT)}/')
        # The goal is 1 s, met on an idle 2-core machine (0.1-0.4 s, mostly the matplotlib redraw). Under `make test -n 2`
        # the other worker competes for the cores (2-2.7 s measured), so the hard limit only catches a broken update.
        assert max(moves) < 5, f'slider moves took {moves} s; the goal is 1 s'
        assert not browser_errors(d), browser_errors(d)


# JupyterLab 4 renders only the cells in view by default; with every cell in the page, the prompts say what ran.
LAB_SETTINGS = {'@jupyterlab/notebook-extension/tracker.jupyterlab-settings': {'windowingMode': 'none'},
                '@jupyterlab/apputils-extension/notification.jupyterlab-settings': {'fetchNews': 'false'}}


def test_lab_notebook(runs, browser, tmp_path):
    "`make lab` serves the project; the explorer notebook runs all its cells in the browser without an error output."
    d, port = browser, free_port()
    for name, v in LAB_SETTINGS.items():
        (tmp_path/'settings'/name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path/'settings'/name).write_text(json.dumps(v))
    # a copy, so that saving it (to read its outputs back) leaves nbs/ alone
    nb = OUT/'lab'/'explore.ipynb'
    nb.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT/'nbs'/'explore.ipynb', nb)
    flags = (f'--no-browser --port={port} --ip=127.0.0.1 --ServerApp.token= --ServerApp.password= '
             f'--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate')
    with serve(['lab', f'LABFLAGS={flags}'], port, 'lab.log', EEARLY_RESULTS=str(RUNS),
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path/'settings'), JUPYTERLAB_WORKSPACES_DIR=str(tmp_path/'workspaces')):
        t0 = time.perf_counter()
        d.get(f'http://127.0.0.1:{port}/lab/tree/{nb.relative_to(ROOT)}')
        n_code = sum(c['cell_type'] == 'code' for c in json.loads(nb.read_text())['cells'])
        wait(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, '.jp-Notebook .jp-CodeCell')) == n_code, 120,
             f'the notebook in JupyterLab with its {n_code} code cells')
        d.find_element(By.XPATH, "//div[contains(@class, 'lm-MenuBar-itemLabel') and text()='Run']").click()
        wait(d, lambda d: d.find_element(By.CSS_SELECTOR, "li[data-command='runmenu:run-all']"), 10,
             'Run All Cells in the Run menu').click()
        prompts = lambda d: [e.text.strip() for e in d.find_elements(By.CSS_SELECTOR, '.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
        done = lambda d: (all(re.fullmatch(r'\[\d+\]:', p) for p in prompts(d))
                          or ('[*]:' not in prompts(d) and d.find_elements(By.CSS_SELECTOR, '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')))
        wait(d, done, 420, 'every cell to run')
        ran_s = time.perf_counter() - t0
        saved = nb.stat().st_mtime
        ActionChains(d).key_down(Keys.CONTROL).send_keys('s').key_up(Keys.CONTROL).perform()
        wait(d, lambda d: nb.stat().st_mtime != saved, 30, 'the notebook to be saved')
        time.sleep(0.5)  # the contents API writes the file atomically, but let it finish
        cells = [c for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'code']
        errors = [(i, o.get('ename'), o.get('evalue')) for i, c in enumerate(cells) for o in c['outputs'] if o['output_type'] == 'error']
        assert not errors, f'error outputs in the code cells (index, error, message): {errors}'
        assert all(c['execution_count'] for c in cells), [i for i, c in enumerate(cells) if not c['execution_count']]
        # the explorer's widgets are on the page, with the numbers filled in
        assert d.find_elements(By.CSS_SELECTOR, '.eearly-thr .noUi-handle') and '%' in text(d, 'acc'), 'no explorer widgets'
        d.find_element(By.CSS_SELECTOR, '.eearly-acc').location_once_scrolled_into_view
        d.save_screenshot(str(OUT/'lab.png'))
        report(f'JupyterLab: {n_code} code cells ran without an error output, {ran_s:.1f} s after the page was requested')
