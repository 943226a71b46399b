"""The web app: search a collection with HGR and see why it ranked that way (`python app.py`, `hgr serve`).

service.py  the logic, returning the JSON of the API (tested without a browser)
frames.py   frame strips (thumbnails of the frames the model saw), decoded once per video and kept on disk
viz.py      plotly figures drawn from that JSON
views.py    callbacks: JSON -> component values, errors -> messages
ui.py       the gr.Blocks page: layout and wiring
server.py   start-up and the `serve` command
"""
