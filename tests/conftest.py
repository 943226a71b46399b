"""Shared fixtures: the official parity case (made by the unmodified official code, tests/data/parity/README.txt)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

PARITY = Path(__file__).parent / "data" / "parity"


@pytest.fixture(scope="session")
def parity_dir() -> Path:
    return PARITY


@pytest.fixture(scope="session")
def expected() -> dict[str, np.ndarray]:
    with np.load(PARITY / "expected.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="session")
def parity_graphs() -> dict:
    return json.loads((PARITY / "root" / "annotation" / "RET" / "sent2rolegraph.augment.json").read_text())


@pytest.fixture(scope="module")
def app():
    """The app as a user starts it, under the network guard (tests/appfixture.py::guarded_app), shared by the
    hostile-input and security tests; tests/test_app.py and tests/test_demo.py start their own."""
    from tests.appfixture import guarded_app

    return guarded_app()[0]


@pytest.fixture(scope="module")
def client(app):
    from gradio_client import Client

    return Client(app.url, verbose=False)
