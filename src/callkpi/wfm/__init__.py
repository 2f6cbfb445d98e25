"""Workforce planning: Erlang B, C and A, the staffing solver, simulation, forecasting and
staffing plans. Times are in seconds everywhere and say so in their names (``aht_s``,
``answer_threshold_s``, ``interval_s``, ``patience_s``). The formulas are pure functions;
only :mod:`callkpi.wfm.history` and :mod:`callkpi.wfm.plan` read the warehouse."""
