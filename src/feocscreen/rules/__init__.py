"""Rules as data: YAML rulesets validated against a JSON Schema, compiled into condition kinds.

``load`` reads and checks files, ``kinds`` holds one class per condition
primitive (the registry ``rules explain`` describes), ``evaluate`` applies a
rule book to one supplier.
"""

from .load import RuleBook, Ruleset, load_rulebook, shipped_dir

__all__ = ["RuleBook", "Ruleset", "load_rulebook", "shipped_dir"]
