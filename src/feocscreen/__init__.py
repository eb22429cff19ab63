"""feocscreen: screen rare-earth magnet supply chains for FEOC, PFE and DFARS exposure."""

__version__ = "0.1.0"
