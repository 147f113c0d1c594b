"""What a migration did: per table and in total. Written into the manifest and returned to callers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class TableReport:
    """One table's figures. `bytes_read` counts the source's raw values; `sql_bytes` the SQL sent."""

    name: str
    rows: int = 0
    bytes_read: int = 0
    sql_bytes: int = 0
    values_changed: int = 0
    replacements: int = 0
    malformed_serialized: int = 0
    skipped_custom: int = 0
    too_deep: int = 0
    checksum: int = 0
    seconds: float = 0.0
    action: str = "replaced"  # "replaced" an existing target table, or "created" it


@dataclass
class MigrationReport:
    """The result of `migrate_site`: what was copied, changed, skipped and where the archives went."""

    migration_id: str
    site_id: int
    source: str
    target: str
    # running, completed, failed or interrupted (wfuwp.archive.manifest.STATUSES). After a failure the
    # target holds what it held before: `swapped_back` says a swap was undone, `cleanup_error` why
    # putting it back failed (then `wfuwp migrate clean` finishes it).
    status: str = "running"
    swapped_back: bool = False
    cleanup_error: str | None = None
    # How far the cut-over got (wfuwp.archive.manifest.Cutover): "finished" means the migrated tables
    # are the site now, whatever `status` says.
    cutover: str = "staging"
    # A Ctrl-C or SIGTERM arrived while the swap could not be stopped: the migration finished first.
    interrupt_deferred: bool = False
    pairs: list[tuple[str, str]] = field(default_factory=list)
    pairs_origin: str = "given"
    tables: list[TableReport] = field(default_factory=list)
    target_only_tables: list[str] = field(default_factory=list)
    target_only_dropped: bool = False
    backup_tables: dict[str, list[int]] = field(default_factory=dict)  # table -> [rows, checksum]
    skipped: list[str] = field(default_factory=list)
    snapshot: dict[str, Any] = field(default_factory=dict)
    archive: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    old_tables_kept: list[str] = field(default_factory=list)
    error: str | None = None
    implementation: dict[str, str] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """Rows copied, all tables."""
        return sum(t.rows for t in self.tables)

    @property
    def bytes_read(self) -> int:
        """Raw bytes read from the source, all tables."""
        return sum(t.bytes_read for t in self.tables)

    @property
    def replacements(self) -> int:
        """Replacements made, all tables."""
        return sum(t.replacements for t in self.tables)

    @property
    def values_changed(self) -> int:
        """Values changed, all tables."""
        return sum(t.values_changed for t in self.tables)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (the manifest and `--json`)."""
        data = asdict(self)
        data["totals"] = {
            "tables": len(self.tables),
            "rows": self.rows,
            "bytes_read": self.bytes_read,
            "values_changed": self.values_changed,
            "replacements": self.replacements,
            "seconds": round(sum(self.timings.values()), 3),
        }
        return data
