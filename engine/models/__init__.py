"""SDXL pipelines: loading the real one (`loading`), and building stand-ins from config —
a tiny random one for tests (`tiny`) and a full-size random one for GPU benchmarks
(`full_size`). Importing this package imports nothing heavy; torch loads in the submodules."""
