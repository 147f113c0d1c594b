"""wfuwp: migrate one site of a WordPress multisite network between environments."""

from wfuwp.errors import WfuwpError

__all__ = ["WfuwpError"]
__version__ = "0.1.0"
