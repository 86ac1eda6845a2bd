"""What the units app shows or checks from the apps above it, registered by them (docs/architecture.md,
"Layers"): the codes app, in ``CodesConfig.ready``, registers how to read the units' live and queued codes
(``current``, ``queued``: ``{unit_id: code}`` for a list of unit ids) and the unit page's code panel
(``panel``: HTML for one unit). Units never import codes; with nothing registered they read no codes.
"""

codes: dict = {}


def register_codes(*, current, queued, panel) -> None:
    codes.update(current=current, queued=queued, panel=panel)
