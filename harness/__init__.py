"""What the tests and the benchmarks share: real-face scenes and images, gateway and helper
processes on loopback, and small HTTP helpers. Benchmarks import it instead of tests/, so a test
refactor cannot break a benchmark, and the test suite holds no code that production tooling needs.
"""
