"""Shared test set-up: deterministic seeds, float64 where we compare against an oracle."""

import os

import pytest
import torch

# Headless plotting everywhere: tests must not need a display.
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Tests use tiny models: one torch thread is as fast on a quiet machine and far faster on a
    loaded one (two threads on two busy cores made a 1.6 s fit take 68 s). Real-data tests that
    want more set it themselves."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture
def double():
    """Run a test in float64 (oracle comparisons at atol 1e-10)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)
