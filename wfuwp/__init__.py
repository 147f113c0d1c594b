"""wfuwp: migrate one site of a WordPress multisite network between environments."""

from wfuwp.errors import WfuwpError
from wfuwp.replace import IMPLEMENTATION, Replacer, ReplaceStats, Rule

__all__ = ["IMPLEMENTATION", "ReplaceStats", "Replacer", "Rule", "WfuwpError"]
__version__ = "0.1.0"
