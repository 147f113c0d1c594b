"""wfuwp: migrate one site of a WordPress multisite network between environments."""

# db first: the MySQL driver's C extension must load before anything imports ssl (see wfuwp.db).
from wfuwp.db import DRIVER, Database  # isort: skip
from wfuwp.errors import WfuwpError
from wfuwp.migrate import migrate_site
from wfuwp.progress import ProgressEvent
from wfuwp.replace import IMPLEMENTATION, Replacer, ReplaceStats, Rule
from wfuwp.report import MigrationReport, TableReport

__all__ = [
    "DRIVER",
    "IMPLEMENTATION",
    "Database",
    "MigrationReport",
    "ProgressEvent",
    "ReplaceStats",
    "Replacer",
    "Rule",
    "TableReport",
    "WfuwpError",
    "__version__",
    "migrate_site",
]
from wfuwp._version import __version__
