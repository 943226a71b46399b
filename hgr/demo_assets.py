"""Where the embedded demo lives in the repository: the collection and the model `hgr demo-world ship` writes,
which `python app.py` and `hgr serve` open by default."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO_COLLECTION = REPO / "assets" / "demo"
DEMO_CHECKPOINT = REPO / "checkpoints" / "demo.pt"
