"""A realistic synthetic pooling region: hospitals, a year of cases (contracts §1), seeded gaming.

`generate(cases, hospitals, year, seed)` returns frames; `write_region(out_dir, ...)` streams
Parquet. Distributions and parameters: engine/synth/params.toml, documented in docs/data.md.
"""

from engine.synth.gaming import KINDS as SEEDED_KINDS
from engine.synth.generator import SynthError, build_region, generate, write_region
from engine.synth.params import default_params

__all__ = ["SEEDED_KINDS", "SynthError", "build_region", "default_params", "generate",
           "write_region"]
