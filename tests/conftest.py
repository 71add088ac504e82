import os
from pathlib import Path
import torch

# Two xdist workers on a 2-core machine: one torch thread each, or they fight over the cores.
worker = os.environ.get('PYTEST_XDIST_WORKER')
if worker: torch.set_num_threads(1)
# Smoke runs of the figure notebooks go to a cache of the test suite, one per worker (two processes must not resume
# each other's checkpoints), never into the user's results/.
os.environ['EEARLY_RESULTS'] = str(Path(__file__).resolve().parents[1]/'build'/'test-results'/(worker or 'main'))

# tests/test_browser.py measures how fast the app answers; xdist workers cannot print, so it appends its lines to this
# file and the summary at the end of the run shows them.
TIMINGS = Path(__file__).resolve().parents[1]/'build'/'browser'/'timings.txt'


def pytest_sessionstart(session):
    if not worker: TIMINGS.unlink(missing_ok=True)


def pytest_terminal_summary(terminalreporter):
    if TIMINGS.exists():
        terminalreporter.section('browser timings')
        terminalreporter.write(TIMINGS.read_text())
