"""Experiments: many runs of the model, compared.

- :mod:`.spec`: what one run is (:class:`RunSpec`), what it gives back (:class:`RunResult`),
  and the results store's tables;
- :mod:`.design`: experiment files (arms, factors, samplers, replications) → run specs;
- :mod:`.execute`: one run, in any worker;
- :mod:`.runner`: backends (serial, processes, dask) streaming results to the store;
- :mod:`.store`: the DuckDB results store;
- :mod:`.analysis`: the store's results as pandas tables with confidence intervals;
- :mod:`.report`: the self-contained HTML report.
"""
