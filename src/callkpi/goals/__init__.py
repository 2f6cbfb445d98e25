"""Goals: targets per KPI, scope and period; scorecards with deviation, status, impact and
recommendations; benchmark reports; honest statistics (sample sizes, intervals)."""
