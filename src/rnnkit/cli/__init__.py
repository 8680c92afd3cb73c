"""The ``rnnkit`` command line: one thin module per verb over plain library functions."""
