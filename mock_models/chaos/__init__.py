"""The faults the mock applies: which catalogue fault hits an attempt (``book``: the active
profile, header forcing, windows on the run clock), what happens before an answer
(``actions``), and how an answer is cut, stalled or reshaped while it is written (``tamper``).

Decisions themselves are the pure ``faults`` package's; this is the mock's side. It uses the
simulation (``mock_models.sim``) and never the HTTP layer.
"""
