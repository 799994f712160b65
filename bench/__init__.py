"""QueryLab's benchmarks: ``python -m bench`` measures and writes ``bench/results.md``.

They measure and report; they never assert. Every figure comes from
``bench.timing.sample``, the one timing loop, and is printed with its median and
spread next to its target.
"""
