"""The HGR demo web app: `python app.py` serves the embedded demo; `python app.py --help` lists the options.

Layout and callbacks live in hgr/app/ (ui.py, views.py); this file only starts it, exactly like `hgr serve`.
"""
from hgr.app.server import run

if __name__ == "__main__":
    raise SystemExit(run())
