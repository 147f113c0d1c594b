"""wfuwp: migrate one site of a WordPress multisite network between environments.

Everything a caller needs is importable from here: the operations (`migrate_site`, `restore`,
`rollback`, `import_sql`, `export_site`, `backup_site`, `verify_site`, `count_matches`, `preflight`,
`plan_for`, `plan_clean`/`run_clean`, `sync_media`, `list_migrations`), the values they take and
return, and every error class. Names load on first use (PEP 562), so `import wfuwp.replace` stays
light: no boto3, no MySQL driver.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# The MySQL driver's C extension bundles a newer OpenSSL than Python's `ssl` module; once `ssl` is
# loaded (boto3 and urllib3 load it) the extension cannot load and the driver is 4-6x slower. Loading
# the extension alone costs ~3 ms, so it is done here, before any submodule can import `ssl`.
try:
    import _mysql_connector  # type: ignore[import-not-found]  # noqa: F401
except ImportError:  # pragma: no cover - wfuwp.mysql.connection reports it as DRIVER = "pure"
    pass

from wfuwp._version import __version__
from wfuwp.errors import (
    ArchiveError,
    ConfigError,
    DatabaseError,
    LockedError,
    MigrationError,
    NetworkMismatchError,
    PreflightError,
    SiteNotFoundError,
    SqlFileError,
    SwapBlockedError,
    UsageError,
    VerificationError,
    WfuwpError,
)

# name -> module that defines it; each is imported on first access.
_LAZY = {
    "IMPLEMENTATION": "wfuwp.replace",
    "Replacer": "wfuwp.replace",
    "ReplaceStats": "wfuwp.replace",
    "Rule": "wfuwp.replace",
    "DRIVER": "wfuwp.mysql.connection",
    "Database": "wfuwp.mysql.connection",
    "NetworkIdentity": "wfuwp.mysql.identity",
    "network_of": "wfuwp.mysql.identity",
    "TableChoice": "wfuwp.mysql.schema",
    "TableFilter": "wfuwp.mysql.schema",
    "table_ownership": "wfuwp.mysql.schema",
    "ProgressEvent": "wfuwp.progress",
    "MigrationReport": "wfuwp.report",
    "TableReport": "wfuwp.report",
    "ArchiveLocation": "wfuwp.archive.location",
    "MigrationInfo": "wfuwp.archive.location",
    "list_migrations": "wfuwp.archive.location",
    "Config": "wfuwp.config.settings",
    "Plan": "wfuwp.config.plan",
    "plan_for": "wfuwp.config.plan",
    "migrate_site": "wfuwp.ops.migrate",
    "migrate_between": "wfuwp.ops.environment",
    "migrate_network": "wfuwp.ops.network",
    "NetworkReport": "wfuwp.ops.network",
    "NetworkProgress": "wfuwp.ops.network",
    "SiteOutcome": "wfuwp.ops.network",
    "EnvironmentMigration": "wfuwp.ops.environment",
    "restore": "wfuwp.ops.restore",
    "rollback": "wfuwp.ops.restore",
    "import_sql": "wfuwp.ops.restore",
    "LoadReport": "wfuwp.ops.restore",
    "export_site": "wfuwp.ops.export",
    "backup_site": "wfuwp.ops.backup",
    "ExportReport": "wfuwp.ops.export",
    "BackupReport": "wfuwp.ops.backup",
    "verify_site": "wfuwp.ops.verify",
    "count_matches": "wfuwp.ops.verify",
    "SiteCheck": "wfuwp.ops.verify",
    "preflight": "wfuwp.ops.preflight",
    "PreflightReport": "wfuwp.ops.preflight",
    "plan_clean": "wfuwp.ops.clean",
    "run_clean": "wfuwp.ops.clean",
    "CleanPlan": "wfuwp.ops.clean",
    "sync_media": "wfuwp.ops.media",
    "copy_prefix": "wfuwp.ops.media",
}

__all__ = [
    "DRIVER",
    "IMPLEMENTATION",
    "ArchiveError",
    "ArchiveLocation",
    "BackupReport",
    "CleanPlan",
    "Config",
    "ConfigError",
    "Database",
    "DatabaseError",
    "EnvironmentMigration",
    "ExportReport",
    "LoadReport",
    "LockedError",
    "MigrationError",
    "MigrationInfo",
    "MigrationReport",
    "NetworkIdentity",
    "NetworkMismatchError",
    "NetworkProgress",
    "NetworkReport",
    "Plan",
    "PreflightError",
    "PreflightReport",
    "ProgressEvent",
    "ReplaceStats",
    "Replacer",
    "Rule",
    "SiteCheck",
    "SiteNotFoundError",
    "SiteOutcome",
    "SqlFileError",
    "SwapBlockedError",
    "TableChoice",
    "TableFilter",
    "TableReport",
    "UsageError",
    "VerificationError",
    "WfuwpError",
    "__version__",
    "backup_site",
    "copy_prefix",
    "count_matches",
    "export_site",
    "import_sql",
    "list_migrations",
    "migrate_between",
    "migrate_network",
    "migrate_site",
    "network_of",
    "plan_clean",
    "plan_for",
    "preflight",
    "restore",
    "rollback",
    "run_clean",
    "sync_media",
    "table_ownership",
    "verify_site",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wfuwp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # what mypy and editors see; at run time __getattr__ loads these on first use
    from wfuwp.archive.location import ArchiveLocation, MigrationInfo, list_migrations
    from wfuwp.config.plan import Plan, plan_for
    from wfuwp.config.settings import Config
    from wfuwp.mysql.connection import DRIVER, Database
    from wfuwp.mysql.identity import NetworkIdentity, network_of
    from wfuwp.mysql.schema import TableChoice, TableFilter, table_ownership
    from wfuwp.ops.backup import BackupReport, backup_site
    from wfuwp.ops.clean import CleanPlan, plan_clean, run_clean
    from wfuwp.ops.environment import EnvironmentMigration, migrate_between
    from wfuwp.ops.export import ExportReport, export_site
    from wfuwp.ops.media import copy_prefix, sync_media
    from wfuwp.ops.migrate import migrate_site
    from wfuwp.ops.network import NetworkProgress, NetworkReport, SiteOutcome, migrate_network
    from wfuwp.ops.preflight import PreflightReport, preflight
    from wfuwp.ops.restore import LoadReport, import_sql, restore, rollback
    from wfuwp.ops.verify import SiteCheck, count_matches, verify_site
    from wfuwp.progress import ProgressEvent
    from wfuwp.replace import IMPLEMENTATION, Replacer, ReplaceStats, Rule
    from wfuwp.report import MigrationReport, TableReport
