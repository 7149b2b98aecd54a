"""Statistics shared by gates and comparisons: run directories in, samples, bootstrap intervals,
rank tests and streaming histograms out.

``run_data`` reads a run, ``sameness`` says whether two runs are comparable, ``sources``
answers "the samples of metric M for tag filters F" from a run's records in memory
(``slices``, ``trends``, ``request_samples``) or from the files of a run too large for memory
(``file_samples``), both through ``columns``, ``bootstrap`` and ``significance`` judge whether a
difference is real, ``histogram`` keeps bounded live quantiles; ``timeslices``,
``trend_fit`` and ``soak`` give a long run's windows, trends and soak verdict. Imports neither
``harness.gates`` nor ``harness.compare``; both import it.
"""
