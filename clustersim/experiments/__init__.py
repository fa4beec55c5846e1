"""Experiments: many runs of the model, compared.

- :mod:`.spec`: what one run is (:class:`RunSpec`), what it gives back (:class:`RunResult`),
  and the results store's tables;
- :mod:`.design`: experiment files (arms, factors, samplers, replications) → run specs;
- :mod:`.identity`: what identifies a sweep: its store's meta and fingerprint, its default
  store, whether a store belongs to it, what a rerun makes;
- :mod:`.execute`: one run, in any worker;
- :mod:`.runner`: backends (serial, processes, dask) streaming results to the store;
- :mod:`.store`: the DuckDB results store;
- :mod:`.sweep`: :func:`~clustersim.experiments.sweep.run_experiment`, an experiment run
  into its store, resumably (what ``clustersim sweep`` calls);
- :mod:`.analysis`: the store's results as pandas tables with confidence intervals;
- :mod:`.verdict`: the answer first: arms ranked per factor level, paired CIs, k€ per unit;
- :mod:`.report`: the self-contained HTML report.
"""
