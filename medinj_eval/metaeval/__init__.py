"""Judge meta-evaluation: how well each scorer agrees with human labels.

:mod:`pairs` reads labelled answers, :mod:`agreement` holds the statistics (pure functions),
:mod:`scoring` scores the pairs with the automatic metrics and judges, :mod:`report` writes
the table, JSON and plots.
"""
