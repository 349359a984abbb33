"""livehuman: a realtime talking digital human."""
__version__ = "0.1.0"
