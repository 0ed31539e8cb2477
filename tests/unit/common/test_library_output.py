"""The one library-output policy: a model load draws no tqdm bar by default; --verbose keeps it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

LOAD = """
from pipelines.common.cli import library_output
library_output({verbose})
from types import SimpleNamespace
from embeddings.encoder import load_encoder
load_encoder(SimpleNamespace(encoder=SimpleNamespace(model="all-MiniLM-L6-v2", device="cpu",
                                                     precision="fp32", num_threads=1)))
"""


@pytest.mark.parametrize("verbose", [False, True])
def test_model_load_draws_no_progress_bar_unless_verbose(verbose):
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_PROGRESS_BARS"}
    proc = subprocess.run([sys.executable, "-c", LOAD.format(verbose=verbose)], capture_output=True, text=True,
                          env={**env, "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert ("Loading weights" in proc.stderr) is verbose, proc.stderr[-2000:]
