"""What an archive folder says about itself: the manifest (written last) and a running migration's state.

    manifest.json   Manifest: what the operation did, every object with its size and SHA-256, the
                    checksums a restore verifies against, who ran it; written once the operation ended
    state.json      MigrationState: what a running migration has finished, so `--resume` can skip it

Both are typed here and nowhere else; the JSON field names are those of docs/archives.md (format 1).
Every status an operation writes is one of STATUSES; manifests of older versions that wrote
"complete" read as "completed".
"""

from __future__ import annotations

import builtins
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, cast, get_args

import orjson

from wfuwp.errors import ArchiveError, UsageError
from wfuwp.mysql.identity import NetworkIdentity
from wfuwp.mysql.schema import TableFilter
from wfuwp.replace import Rule
from wfuwp.report import TableReport

__all__ = [
    "CUTOVER_STATES",
    "MANIFEST_FORMAT",
    "STATUSES",
    "ArchiveObject",
    "Audit",
    "BackupState",
    "Cutover",
    "Kind",
    "Manifest",
    "MigrationState",
    "Role",
    "StagedTable",
    "Status",
    "TableSum",
]

MANIFEST_FORMAT = 1

Role = Literal["source", "backup", "migrated"]
# What made the folder: a migration, or a backup (`backup_site`, or what a restore/import replaced).
Kind = Literal["migration", "backup"]
# running: not finished (state.json only); completed: done, the target holds the result; failed and
# interrupted: stopped (whether the target holds the result is `cutover`'s to say); rolled-back: a
# completed migration that `rollback` undid.
Status = Literal["running", "completed", "failed", "interrupted", "rolled-back"]
STATUSES: tuple[Status, ...] = get_args(Status)
# How far the cut-over got (wfuwp.ops.cutover): staging: the target holds what it held before;
# swapping: the RENAME may have happened (the target's own tables tell); swapped: the new tables are
# live and the old ones kept under _wfo_ names; finished: the new tables are live for good.
Cutover = Literal["staging", "swapping", "swapped", "finished"]
CUTOVER_STATES: tuple[Cutover, ...] = get_args(Cutover)
ROLES: tuple[Role, ...] = get_args(Role)


@dataclass(frozen=True)
class TableSum:
    """A table's row count and checksum, as `wfuwp.mysql.sql.checksum_query` computes them."""

    rows: int
    checksum: int


@dataclass(frozen=True)
class ArchiveObject:
    """One committed object of an archive folder; `name` is relative to the folder."""

    name: str
    bytes: int  # uncompressed SQL bytes
    compressed_bytes: int
    sha256: str  # of the compressed bytes
    role: Role | None = None
    table: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON fields; role and table only when set (as format 1 wrote them)."""
        data: dict[str, Any] = {
            "name": self.name,
            "bytes": self.bytes,
            "compressed_bytes": self.compressed_bytes,
            "sha256": self.sha256,
        }
        if self.role is not None:
            data["role"] = self.role
        if self.table is not None:
            data["table"] = self.table
        return data

    @classmethod
    def from_dict(cls, data: Any) -> ArchiveObject:
        """Read one object entry; raise ArchiveError (via _need) when it is not one."""
        obj = _need(data, dict, "an object entry")
        role = obj.get("role")
        return cls(
            name=_need(obj.get("name"), str, "an object's name"),
            bytes=int(obj.get("bytes", 0)),
            compressed_bytes=int(obj.get("compressed_bytes", 0)),
            sha256=str(obj.get("sha256", "")),
            role=cast("Role", role) if role in ROLES else None,
            table=obj.get("table"),
        )


@dataclass(frozen=True)
class Audit:
    """Who ran the operation, where, with which version, and when it finished."""

    user: str
    host: str
    tool: str
    finished_at: str


@dataclass
class Manifest:
    """manifest.json of one archive folder.

    `tables` are a migration's tables (with action "replaced" or "created", rows and checksum);
    `backup_tables` the checksums of what `backup/` holds, which restore verifies. `details` keeps
    whatever else the operation reported (pairs, timings, snapshot, ...) for people to read.
    """

    id: str
    kind: Kind
    status: Status
    site_id: int
    site_name: str | None
    from_env: str
    to_env: str
    created: str
    written: str = ""
    objects: list[ArchiveObject] = field(default_factory=list)
    backup_tables: dict[str, TableSum] = field(default_factory=dict)
    tables: list[TableReport] = field(default_factory=list)
    target_only_tables: list[str] = field(default_factory=list)
    target_only_dropped: bool = False
    old_tables_kept: list[str] = field(default_factory=list)
    error: str | None = None
    cleanup_error: str | None = None  # set when putting the target back after a failure failed too
    cutover: Cutover = "staging"
    swapped_back: bool = False
    audit: Audit | None = None
    details: dict[str, Any] = field(default_factory=dict)
    format: int = MANIFEST_FORMAT
    # Which network the tables were read from (source/) and written to (backup/, migrated/); a
    # backup's are the same. None: made before archives recorded it, or the database could not say.
    source_network: NetworkIdentity | None = None
    target_network: NetworkIdentity | None = None

    @property
    def bytes(self) -> int:
        """Uncompressed SQL bytes of every object."""
        return sum(o.bytes for o in self.objects)

    @property
    def compressed_bytes(self) -> int:
        """Stored bytes of every object."""
        return sum(o.compressed_bytes for o in self.objects)

    def objects_of(self, role: Role) -> list[ArchiveObject]:
        """The objects holding tables for `role`."""
        return [o for o in self.objects if o.role == role]

    def network_of(self, role: Role) -> NetworkIdentity | None:
        """The network whose tables `role` holds: the source's for source/, the target's for backup/
        and migrated/ (what the target held before, and what the migration wrote into it)."""
        return self.source_network if role == "source" else self.target_network

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as written to manifest.json (details first, so typed fields win)."""
        data: dict[str, Any] = {
            **self.details,
            "format": self.format,
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "site": {"id": self.site_id, "name": self.site_name},
            "from": self.from_env,
            "to": self.to_env,
            "created": self.created,
            "written": self.written,
            "objects": [o.to_dict() for o in self.objects],
            "bytes": self.bytes,
            "compressed_bytes": self.compressed_bytes,
            "backup_tables": {name: [s.rows, s.checksum] for name, s in self.backup_tables.items()},
            "tables": [asdict(t) for t in self.tables],
            "target_only_tables": list(self.target_only_tables),
            "target_only_dropped": self.target_only_dropped,
            "old_tables_kept": list(self.old_tables_kept),
            "error": self.error,
            "cleanup_error": self.cleanup_error,
            "cutover": self.cutover,
            "swapped_back": self.swapped_back,
            "audit": asdict(self.audit) if self.audit is not None else None,
            "source_network": _network_dict(self.source_network),
            "target_network": _network_dict(self.target_network),
        }
        return data

    def to_json(self) -> builtins.bytes:
        """manifest.json's bytes. Raises UsageError when `details` holds something JSON cannot."""
        try:
            return orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
        except TypeError as exc:
            raise UsageError(f"the manifest details are not JSON-serializable: {exc}") from exc

    @classmethod
    def from_json(cls, blob: builtins.bytes, url: str) -> Manifest:
        """Parse manifest.json found at `url`; raise ArchiveError naming it when it is damaged."""
        try:
            data = orjson.loads(blob)
        except orjson.JSONDecodeError as exc:
            raise ArchiveError(f"{url} is not valid JSON ({exc}); it was damaged") from exc
        try:
            return cls.from_dict(data)
        except (ArchiveError, KeyError, TypeError, ValueError) as exc:
            raise ArchiveError(f"{url} is not a wfuwp manifest ({exc}); it was damaged") from exc

    @classmethod
    def from_dict(cls, data: Any) -> Manifest:
        """Build from manifest.json's parsed data (format 1, any version)."""
        raw = dict(_need(data, dict, "a JSON object"))
        site = _need(raw.pop("site", None) or {}, dict, "the site entry")
        said = str(raw.pop("status", "completed"))
        legacy_backup = said == "backup before restore"  # what a restore's own backup said before kinds
        status = "completed" if legacy_backup else _status(said)
        audit = raw.pop("audit", None)
        cutover = raw.pop("cutover", None)
        if cutover not in CUTOVER_STATES:  # manifests before the cut-over was recorded
            # "clean-up failed" after a swap: whether it was swapped back only the target can tell.
            cutover = (
                "finished"
                if status == "completed"
                else "swapping"
                if "clean-up failed" in said
                else "staging"
            )
        table_fields = {f.name for f in fields(TableReport)}
        manifest = cls(
            id=str(raw.pop("id")),
            kind="backup" if raw.pop("kind", "migration") == "backup" or legacy_backup else "migration",
            status=status,
            site_id=int(site["id"]),
            site_name=site.get("name"),
            from_env=str(raw.pop("from")),
            to_env=str(raw.pop("to")),
            created=str(raw.pop("created", "")),
            written=str(raw.pop("written", "")),
            objects=[ArchiveObject.from_dict(o) for o in raw.pop("objects", None) or []],
            backup_tables={
                str(name): TableSum(int(v[0]), int(v[1]))
                for name, v in (raw.pop("backup_tables", None) or {}).items()
            },
            tables=[
                TableReport(**{k: v for k, v in _need(t, dict, "a table entry").items() if k in table_fields})
                for t in raw.pop("tables", None) or []
            ],
            target_only_tables=list(raw.pop("target_only_tables", None) or []),
            target_only_dropped=bool(raw.pop("target_only_dropped", False)),
            old_tables_kept=list(raw.pop("old_tables_kept", None) or []),
            error=raw.pop("error", None),
            cleanup_error=raw.pop("cleanup_error", None),
            cutover=cutover,
            swapped_back=bool(raw.pop("swapped_back", False)),
            audit=Audit(**{k: str(audit.get(k, "")) for k in ("user", "host", "tool", "finished_at")})
            if isinstance(audit, dict)
            else None,
            format=int(raw.pop("format", MANIFEST_FORMAT)),
            source_network=_network(raw.pop("source_network", None)),
            target_network=_network(raw.pop("target_network", None)),
        )
        for derived in ("bytes", "compressed_bytes"):
            raw.pop(derived, None)
        manifest.details = raw
        return manifest


def _network_dict(network: NetworkIdentity | None) -> dict[str, Any] | None:
    return None if network is None else asdict(network)


def _network(data: Any) -> NetworkIdentity | None:
    """A recorded network; None for manifests written before networks were recorded."""
    if data is None:
        return None
    entry = _need(data, dict, "a network entry")
    env = entry.get("env")
    return NetworkIdentity(
        id=str(entry["id"]),
        database=str(entry.get("database", "")),
        prefix=str(entry.get("prefix", "")),
        domain=str(entry.get("domain", "")),
        path=str(entry.get("path", "/")),
        multisite=bool(entry.get("multisite", True)),
        env=None if env is None else str(env),
    )


def _status(value: object) -> Status:
    """The status vocabulary; older manifests wrote "complete" and suffixes like ", swapped back"."""
    text = str(value)
    if text == "complete":
        return "completed"
    head = text.split(",", 1)[0].split(";", 1)[0].strip()
    if head in STATUSES:
        return head  # narrowed to Status by the membership test
    raise ValueError(f"unknown status {text!r}")


def _need(value: Any, kind: type, what: str) -> Any:
    if not isinstance(value, kind):
        raise ArchiveError(f"expected {what}, found {type(value).__name__}")
    return value


# --------------------------------------------------------------------------------------------------------
# state.json: what a running migration has finished.


def rule_to_dict(rule: Rule) -> dict[str, Any]:
    """A Rule as JSON: bytes as hex, so any byte survives."""
    return {
        "search": rule.search.hex(),
        "replace": rule.replace.hex(),
        "host_start": rule.host_start,
        "host_end": rule.host_end,
        "subdomain": rule.subdomain,
        "exclude_hosts": [h.hex() for h in rule.exclude_hosts],
    }


def rule_from_dict(data: dict[str, Any]) -> Rule:
    """The inverse of rule_to_dict."""
    return Rule(
        bytes.fromhex(data["search"]),
        bytes.fromhex(data["replace"]),
        bool(data["host_start"]),
        bool(data["host_end"]),
        bool(data["subdomain"]),
        tuple(bytes.fromhex(h) for h in data["exclude_hosts"]),
    )


@dataclass
class StagedTable:
    """A table the migration loaded into staging and verified, with the archive objects it wrote."""

    sum: TableSum
    report: TableReport
    objects: list[ArchiveObject] = field(default_factory=list)


@dataclass
class BackupState:
    """The target backup a migration completed: per-table checksums and its objects."""

    tables: dict[str, TableSum] = field(default_factory=dict)
    objects: list[ArchiveObject] = field(default_factory=list)


@dataclass
class MigrationState:
    """state.json: a running migration's rules and what it has finished, rewritten after each step."""

    site_id: int
    status: Status = "running"
    rules: list[Rule] = field(default_factory=list)
    tables: dict[str, StagedTable] = field(default_factory=dict)
    backup: BackupState | None = None
    cutover: Cutover = "staging"
    retired: list[str] = field(default_factory=list)  # target-only tables the swap takes out
    keep_old: bool = False
    # As in the manifest: so a run killed before writing one is still checked by rollback.
    source_network: NetworkIdentity | None = None
    target_network: NetworkIdentity | None = None
    # The include/exclude patterns the run started with, so a resumed run takes the same tables.
    table_filter: TableFilter | None = None

    def to_json(self) -> bytes:
        """state.json's bytes."""
        return orjson.dumps(
            {
                "site_id": self.site_id,
                "status": self.status,
                "rules": [rule_to_dict(r) for r in self.rules],
                "tables": {
                    name: {
                        "rows": t.sum.rows,
                        "checksum": t.sum.checksum,
                        "report": asdict(t.report),
                        "objects": [o.to_dict() for o in t.objects],
                    }
                    for name, t in self.tables.items()
                },
                "backup": None
                if self.backup is None
                else {
                    "tables": {n: [s.rows, s.checksum] for n, s in self.backup.tables.items()},
                    "objects": [o.to_dict() for o in self.backup.objects],
                },
                "cutover": self.cutover,
                "retired": self.retired,
                "keep_old": self.keep_old,
                "source_network": _network_dict(self.source_network),
                "target_network": _network_dict(self.target_network),
                "table_filter": None if self.table_filter is None else asdict(self.table_filter),
            }
        )

    @classmethod
    def from_json(cls, blob: bytes, url: str) -> MigrationState:
        """Parse state.json found at `url`; raise ArchiveError naming it when it is damaged."""
        try:
            data = _need(orjson.loads(blob), dict, "a JSON object")
            backup = data.get("backup")
            return cls(
                site_id=int(data["site_id"]),
                status=_status(data.get("status", "running")),
                rules=[rule_from_dict(r) for r in data.get("rules") or []],
                tables={
                    str(name): StagedTable(
                        TableSum(int(t["rows"]), int(t["checksum"])),
                        TableReport(**t["report"]),
                        [ArchiveObject.from_dict(o) for o in t.get("objects") or []],
                    )
                    for name, t in (data.get("tables") or {}).items()
                },
                backup=None
                if not backup
                else BackupState(
                    {str(n): TableSum(int(v[0]), int(v[1])) for n, v in backup["tables"].items()},
                    [ArchiveObject.from_dict(o) for o in backup.get("objects") or []],
                ),
                cutover=data.get("cutover") if data.get("cutover") in CUTOVER_STATES else "staging",
                retired=[str(n) for n in data.get("retired") or []],
                keep_old=bool(data.get("keep_old", False)),
                source_network=_network(data.get("source_network")),
                target_network=_network(data.get("target_network")),
                table_filter=_table_filter(data.get("table_filter")),
            )
        except (orjson.JSONDecodeError, ArchiveError, UsageError, KeyError, TypeError, ValueError) as exc:
            raise ArchiveError(f"{url} is not a migration's state ({exc}); start a new migration") from exc


def _table_filter(data: Any) -> TableFilter | None:
    if data is None:
        return None
    data = _need(data, dict, "a JSON object")
    return TableFilter(
        tuple(_need(data.get("include", []), list, "a list")),
        tuple(_need(data.get("exclude", []), list, "a list")),
        bool(data.get("allow_network", False)),
    )
