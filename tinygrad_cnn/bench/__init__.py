"""The benchmark harness behind ``tinygrad-cnn bench``: each library in its own worker
processes on the same batches, alternating rounds (:mod:`.harness`, :mod:`.worker`), and
where an epoch of ``tinygrad-cnn train`` spends its time (:mod:`.epoch`); both report
through the same statistics (:mod:`.stats`)."""
