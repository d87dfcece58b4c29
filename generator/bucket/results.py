"""A run's results: the runner's result objects, parsed, and each file's latest result.

Format 3 (this version's runner, templates/runner.sh.j2 `commit`): one object per group of
files, `results/<shard>/<name>.results`:

    oscar-batch-results 3 <shard> <identity or ->
    ok <id> <exit> <seconds> <outputs> <invocation> [<folder>] [log <log offset> <log bytes>]
    fail <id> <exit> <seconds> <invocation> <reason> <log offset> <log bytes> <detail 0|1>
    end <records> <log bytes>
    <log blob: each failed file's [detail line and] log tail, at its offset>
    <sha256sum's lines for the stored outputs: <64 hex>  <folder>/<name>>
    e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  /dev/null

A success that stored outputs names its scratch folder (`<k>/out` or `<k>/o/<j>`, no blank
in it), and the hash lines under that folder are its outputs' (GNU sha256sum starts a line
with a backslash and escapes backslash, newline and carriage return in a name holding one).
A success's log tail (only when its log is not empty: "warn: low light") is in the blob,
named by the `log` fields at the end of its line.

An object counts only when it ends with the last line above (sha256sum's line for /dev/null,
written by the program that writes the object's last bytes) and its `end` line's number
matches the records: a runner killed while writing leaves an object without it, whose files
then have no result (and are redone). The hashes come last because sha256sum writes them
into the object itself: one program per group, where format 2 needed a second one to put
each hash in its file's line.

Format 2 (runners of this version before format 3): the same records with each output's
`<sha256>:<percent-encoded name>` in its file's line instead of a folder, `end <records>`,
then the log blob; complete with its `end` line (a blob cut short only shortens tails).

Format 1 (runners before it): one object per file, `results/<shard>/<id>.ok|.fail`,
`name value` lines, then `--` and the log tail. Read the same way, one object per file.

A file may have results in several objects (a retried pod, a re-planned run): the newest
object wins (S3's last-modified, the server's clock); on a tie the failure, so a stale
success never hides a failure. Records go into a temporary SQLite file as they are read,
the newest winning in SQL, so memory stays flat whatever the number of files.
"""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
import urllib.parse
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from generator.bucket import layout
from generator.bucket.reader import Store
from generator.clients import s3
from generator.errors import StorageError
from generator.spec.model import BatchSpec

FORMAT = 3
MAGIC = "oscar-batch-results"
# a complete object's last line (format 3): what `sha256sum /dev/null` prints
HASHED_END = b"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  /dev/null\n"
_UNESCAPE = {"n": "\n", "r": "\r"}
TAIL_CHARS = 2000
_OBJECT = re.compile(
    r"results/(?P<shard>[^/]+)/(?:(?P<id>[0-9a-f]{16})\.(?P<status>ok|fail)|[^/]+\.results)$"
)


class Record(NamedTuple):
    """One file's result (a tuple: a million are made and dropped in a run's aggregate)."""

    fid: str
    ok: bool
    exit_code: int | None = None
    seconds: float | None = None
    outputs: int | None = None  # files stored
    invocation: str = ""
    identity: str = ""
    reason: str = ""
    detail: str = ""
    error: str = ""  # the log tail (a success's too: its warnings)
    # (output name, sha256) of each stored output; None: not recorded (format 1, range mode)
    hashes: tuple[tuple[str, str], ...] | None = None


def parse_result(fid: str, ok: bool, text: str) -> Record:
    """A format-1 result object: `name value` lines, then `--` and the log tail.

    Fields a runner of an older version did not write (identity, invocation) come back empty.
    """
    head, _, tail = text.partition("\n--\n")
    fields: dict[str, str] = {}
    for line in head.splitlines():
        name, _, value = line.partition(" ")
        fields[name] = value
    numbers: dict[str, Any] = {}
    for name, cast in (("exit_code", int), ("seconds", float), ("outputs", int)):
        try:
            numbers[name] = cast(fields[name])
        except (KeyError, ValueError):
            numbers[name] = None
    return Record(
        fid,
        ok,
        **numbers,
        invocation=fields.get("invocation", ""),
        identity=fields.get("identity", ""),
        reason=fields.get("reason", ""),
        detail=fields.get("detail", ""),
        error=tail.strip()[-TAIL_CHARS:],
    )


def _number(text: str, cast: type[int] | type[float]) -> Any:
    try:
        return cast(text)
    except ValueError:
        return None


def _hashes(tokens: list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for token in tokens:
        digest, _, name = token.partition(":")
        out.append((urllib.parse.unquote(name, errors="replace"), digest))
    return tuple(sorted(out))


def _sums(data: bytes) -> dict[str, list[tuple[str, str]]] | None:
    """The hash lines of a format-3 object's end, by scratch folder; None when cut short."""
    if not data.endswith(HASHED_END):
        return None
    out: dict[str, list[tuple[str, str]]] = {}
    for raw in data[: -len(HASHED_END)].split(b"\n")[:-1]:
        line = raw.decode("utf-8", "replace")
        if line.startswith("\\"):
            line = re.sub(r"\\(.)", lambda m: _UNESCAPE.get(m[1], m[1]), line[1:])
        digest, path = line[:64], line[66:]
        part = path.split("/", 3)
        if len(part) > 2 and part[1] == "out":
            folder, name = f"{part[0]}/out", path[len(part[0]) + 5 :]
        elif len(part) > 3 and part[1] == "o":
            folder, name = "/".join(part[:3]), part[3]
        else:
            continue
        out.setdefault(folder, []).append((name, digest))
    return out


def parse_batch(data: bytes) -> list[Record] | None:
    """The records of a format-2 or format-3 object; None when it is incomplete.

    Raises:
        StorageError: a format newer than this version reads.
    """
    end = data.find(b"\nend ")
    if end == -1:
        return None
    stop = data.find(b"\n", end + 1)
    if stop == -1:
        return None
    lines = data[:end].decode("utf-8", "replace").split("\n")
    header = lines[0].split(" ")
    if header[0] != MAGIC or len(header) < 4:
        return None
    if header[1] not in ("2", str(FORMAT)):
        raise StorageError(
            f"result format {header[1]} is newer than this oscar-batch reads ({FORMAT}):"
            " upgrade oscar-batch"
        )
    tail = data[end + 5 : stop].decode("ascii", "replace").split()
    blob = data[stop + 1 :]
    sums: dict[str, list[tuple[str, str]]] = {}
    if header[1] == str(FORMAT):
        blob_size = _number(tail[1], int) if len(tail) == 2 else None
        if blob_size is None or len(blob) < blob_size:
            return None
        found = _sums(blob[blob_size:])
        if found is None:
            return None
        sums, blob = found, blob[:blob_size]
    identity = "" if header[3] == "-" else header[3]
    out: list[Record] = []
    for line in lines[1:]:
        f = line.split(" ")
        if f[0] == "ok" and len(f) >= 6:
            error = ""
            if len(f) >= 9 and f[-3] == "log":
                at, size = _number(f[-2], int) or 0, _number(f[-1], int) or 0
                error = blob[at : at + size].decode("utf-8", "replace").strip()[-TAIL_CHARS:]
                del f[-3:]
            if header[1] == "2":
                hashes = _hashes(f[6:]) if len(f) > 6 or f[4] == "0" else None
            elif len(f) > 6 and f[6] in sums:
                hashes = tuple(sorted(sums[f[6]]))
            else:
                hashes = () if f[4] == "0" else None
            out.append(
                Record(
                    f[1],
                    True,
                    _number(f[2], int),
                    _number(f[3], float),
                    _number(f[4], int),
                    "" if f[5] == "-" else f[5],
                    identity,
                    error=error,
                    hashes=hashes,
                )
            )
        elif f[0] == "fail" and len(f) >= 9:
            at, size = _number(f[6], int) or 0, _number(f[7], int) or 0
            text = blob[at : at + size].decode("utf-8", "replace")
            detail = ""
            if f[8] == "1":
                detail, _, text = text.partition("\n")
            out.append(
                Record(
                    f[1],
                    False,
                    _number(f[2], int),
                    _number(f[3], float),
                    0,
                    "" if f[4] == "-" else f[4],
                    identity,
                    reason=f[5],
                    detail=detail,
                    error=text.strip()[-TAIL_CHARS:],
                )
            )
        else:
            return None
    return out if tail[:1] == [str(len(out))] else None


def encode(shard: str, identity: str, records: Iterable[Record]) -> bytes:
    """A format-3 object of these records, as the runner's `commit` writes it (the reference
    encoder: the runner's sh writes the same layout; its folders are its scratch's)."""
    lines = [f"{MAGIC} {FORMAT} {shard} {identity or '-'}"]
    blob = bytearray()
    sums = bytearray()
    count = 0
    for r in records:
        count += 1
        if r.ok:
            line = f"ok {r.fid} {r.exit_code} {r.seconds} {r.outputs} {r.invocation or '-'}"
            if r.hashes:
                folder = f"{count}/out"
                line += f" {folder}"
                for name, digest in r.hashes:
                    path = f"{folder}/{name}"
                    if any(c in path for c in "\\\n\r"):
                        escaped = path.replace("\\", "\\\\").replace("\n", "\\n")
                        path, digest = escaped.replace("\r", "\\r"), "\\" + digest
                    sums += f"{digest}  {path}\n".encode()
            if r.error:
                data = r.error.encode("utf-8")
                line += f" log {len(blob)} {len(data)}"
                blob += data
            lines.append(line)
            continue
        text = (f"{r.detail}\n" if r.detail else "") + r.error
        data = text.encode("utf-8")
        lines.append(
            f"fail {r.fid} {r.exit_code} {r.seconds} {r.invocation or '-'} {r.reason}"
            f" {len(blob)} {len(data)} {int(bool(r.detail))}"
        )
        blob += data
    head = "\n".join(lines) + f"\nend {count} {len(blob)}\n"
    return head.encode("utf-8") + bytes(blob) + bytes(sums) + HASHED_END


class Found(NamedTuple):
    shard: str
    ok: bool
    stamp: float  # the result object's last-modified, epoch seconds (server clock)


_COLUMNS = (
    "id, ok, stamp, shard, exit_code, seconds, outputs, invocation, identity, reason,"
    " detail, error_at, error_len, hashes"
)


def _key(fid: str) -> int:
    return int.from_bytes(bytes.fromhex(fid), "big", signed=True)


def _encode_hashes(hashes: tuple[tuple[str, str], ...] | None) -> str | None:
    # names percent-encoded, as in the object: an output's name may hold a line break
    if hashes is None:
        return None
    return "\n".join(f"{digest} {urllib.parse.quote(name, safe='/~')}" for name, digest in hashes)


def _decode_hashes(text: str | None) -> tuple[tuple[str, str], ...] | None:
    if text is None:
        return None
    pairs = (line.split(" ", 1) for line in text.split("\n") if line)
    return tuple((urllib.parse.unquote(name), digest) for digest, name in pairs)


class Planned(NamedTuple):
    """A line of a plan's index and the file's latest result (None: no result)."""

    key: str
    size: int
    unsupported: str  # why no mount can show the key, or ""
    found: Found | None
    record: Record | None


class Results:
    """Each file's latest result, in a temporary SQLite file (deleted when closed).

    Records are appended as read (in key order, cheap) and indexed once by file id when first
    asked for: a file's latest result is the first of its records by (stamp descending, the
    failure first), so a tie goes to the failure. Log tails (2,000 characters per file with
    a log) go to a plain temporary file beside it, the database keeping where each is.
    """

    def __init__(self) -> None:
        # "": a private temporary database on disk; its page cache bounds the memory
        self._db = sqlite3.connect("", check_same_thread=False)
        self._db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-16000;"
            "CREATE TABLE rec (id INTEGER, ok INTEGER, stamp REAL, shard TEXT,"
            " exit_code INTEGER, seconds REAL, outputs INTEGER, invocation TEXT, identity TEXT,"
            " reason TEXT, detail TEXT, error_at INTEGER, error_len INTEGER, hashes TEXT);"
        )
        self._tails = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        self._tails_size = 0
        self._indexed = False
        self.objects = 0
        self.unreadable = 0  # objects without their end line (a write cut short)

    def close(self) -> None:
        self._db.close()
        self._tails.close()

    def __enter__(self) -> Results:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def add(self, shard: str, stamp: float, records: Iterable[Record]) -> None:
        """One object's records (stamp: the object's last-modified)."""
        rows = []
        for r in records:
            at, size = self._tails_size, 0
            if r.error:
                data = r.error.encode("utf-8")
                size = len(data)
                self._tails.write(data)
                self._tails_size += size
            rows.append(
                (
                    _key(r.fid), int(r.ok), stamp, shard, r.exit_code, r.seconds, r.outputs,
                    r.invocation, r.identity, r.reason, r.detail, at, size,
                    _encode_hashes(r.hashes),
                )
            )  # fmt: skip
        self._db.executemany(f"INSERT INTO rec ({_COLUMNS}) VALUES ({', '.join('?' * 14)})", rows)

    def _record(self, fid: str, row: Any) -> Record:
        """A Record of a row of table rec (columns in `_COLUMNS` order)."""
        error = ""
        if row[12]:
            self._tails.flush()
            error = os.pread(self._tails.fileno(), row[12], row[11]).decode("utf-8", "replace")
        return Record(
            fid, bool(row[1]), row[4], row[5], row[6], row[7], row[8], row[9], row[10], error,
            _decode_hashes(row[13]),
        )  # fmt: skip

    def _latest(self) -> str:
        """The rowid of a file's latest record, for `WHERE x.id = <id>` (the index made once)."""
        if not self._indexed:
            self._db.execute("CREATE INDEX IF NOT EXISTS rec_id ON rec (id, stamp DESC, ok)")
            self._indexed = True
        return "SELECT x.rowid FROM rec AS x WHERE x.id = {} ORDER BY x.stamp DESC, x.ok LIMIT 1"

    def __len__(self) -> int:
        self._latest()
        return int(self._db.execute("SELECT count(DISTINCT id) FROM rec").fetchone()[0])

    def find(self, fid: str) -> Found | None:
        query = f"SELECT shard, ok, stamp FROM rec WHERE rowid = ({self._latest().format('?')})"
        row = self._db.execute(query, (_key(fid),)).fetchone()
        return None if row is None else Found(row[0], bool(row[1]), row[2])

    def get(self, fid: str) -> tuple[Found, Record] | None:
        """The file's latest result and where it was found."""
        query = f"SELECT {_COLUMNS} FROM rec WHERE rowid = ({self._latest().format('?')})"
        row = self._db.execute(query, (_key(fid),)).fetchone()
        if row is None:
            return None
        return Found(row[3], bool(row[1]), row[2]), self._record(fid, row)

    def planned(self, lines: Iterable[str]) -> Iterator[Planned]:
        """Each line of a plan's index with the file's latest result, in the index's order.

        The index goes into the same temporary database and is joined there: one query for
        every file, instead of a lookup per file.
        """
        latest = self._latest().format("idx.id")
        self._db.execute(
            "CREATE TEMP TABLE idx (pos INTEGER PRIMARY KEY, id INTEGER, size INTEGER,"
            " key TEXT, why TEXT)"
        )
        parsed = (layout.parse_index_line(line) for line in lines)
        self._db.executemany(
            "INSERT INTO idx (id, size, key, why) VALUES (?, ?, ?, ?)",
            ((None if fid == "-" else _key(fid), size, key, why) for fid, size, key, why in parsed),
        )
        columns = ", ".join(f"rec.{c}" for c in _COLUMNS.split(", "))
        query = (
            f"SELECT idx.size, idx.key, idx.why, {columns} FROM idx"
            f" LEFT JOIN rec ON rec.rowid = ({latest}) ORDER BY idx.pos"
        )
        try:
            for size, key, why, *row in self._db.execute(query):
                if row[0] is None:
                    yield Planned(key, size, why, None, None)
                    continue
                fid = (row[0] & (2**64 - 1)).to_bytes(8, "big").hex()
                found = Found(row[3], bool(row[1]), row[2])
                yield Planned(key, size, why, found, self._record(fid, row))
        finally:
            self._db.execute("DROP TABLE idx")

    def statuses(self) -> Iterator[tuple[str, bool]]:
        """(id, succeeded) of every file with a result."""
        self._latest()
        query = (
            "SELECT id, ok FROM (SELECT id, ok, row_number() OVER"
            " (PARTITION BY id ORDER BY stamp DESC, ok) AS n FROM rec) WHERE n = 1"
        )
        for key, ok in self._db.execute(query):
            yield (key & (2**64 - 1)).to_bytes(8, "big").hex(), bool(ok)

    def succeeded(self) -> Iterator[str]:
        """Ids of the files whose latest result is a success."""
        return (fid for fid, ok in self.statuses() if ok)


def _fetch(store: Store, details: bool, item: tuple[str, float]) -> tuple[str, float, Any]:
    key, stamp = item
    match = _OBJECT.search(key)
    assert match is not None
    if match["id"]:
        ok = match["status"] == "ok"
        if not details:  # a format-1 object's name says all a skip needs
            return match["shard"], stamp, [Record(match["id"], ok)]
        data = store.read(key)
        text = "" if data is None else data.decode("utf-8", "replace")
        return match["shard"], stamp, [parse_result(match["id"], ok, text)]
    data = store.read(key)
    return match["shard"], stamp, None if data is None else parse_batch(data)


def load(
    store: Store, where: layout.RunLayout, *, details: bool = True, threads: int = 16
) -> Results:
    """Every result of a run: one listing of `results/`, one GET per result object through a
    bounded window (`details=False`: format-1 objects are not read, their names suffice).

    Raises:
        StorageError: S3 fails, or an object has a newer format than this version reads.
    """
    out = Results()
    try:
        objects = (item for item in store.listing(where.results) if _OBJECT.search(item[0]))
        for shard, stamp, records in s3.ordered_map(
            lambda item: _fetch(store, details, item), objects, threads
        ):
            out.objects += 1
            if records is None:
                out.unreadable += 1
                continue
            out.add(shard, stamp, records)
    except BaseException:
        out.close()
        raise
    return out


def output_groups(
    listing: Iterable[tuple[str, float]], outputs: str, input_prefix: str, index: Results
) -> Iterator[tuple[str, list[str]]]:
    """(key under the input prefix, output names) of each succeeded file, from ONE streamed
    listing of a run's `outputs/` (instead of a listing per file).

    A file's outputs share the prefix `outputs/<rel>/`, so they are contiguous in S3's key
    order, and the groups come in the order of `rel + "/"`. Where `rel` ends is found by
    asking the results, shortest first: the prefix whose key has a result. Outputs of a file
    whose latest result is a failure (stale ones) are left out.
    """
    current: str | None = None
    names: list[str] = []
    for key, _ in listing:
        path = key[len(outputs) :]
        if current is not None and path.startswith(current + "/"):
            names.append(path[len(current) + 1 :])
            continue
        if current is not None:
            yield current, names
        current, names = None, []
        at = path.find("/")
        while at != -1:
            found = index.find(layout.file_id(input_prefix + path[:at]))
            if found is not None:
                if found.ok:
                    current, names = path[:at], [path[at + 1 :]]
                break
            at = path.find("/", at + 1)
    if current is not None:
        yield current, names


def log(store: Store, spec: BatchSpec, run: str, key: str) -> tuple[Record, str] | None:
    """The latest result of input `key` in `run` and its log tail (the last 2,000 bytes the
    script wrote, "" when it wrote nothing); None when the file has no result.

    Every result object of the run is read: a file's object is named by its group, not by it.

    Raises:
        StorageError: S3 fails, or an object has a newer format than this version reads.
    """
    with load(store, layout.RunLayout.of(spec, run)) as found:
        got = found.get(layout.file_id(key))
    if got is None:
        return None
    _, record = got
    text = (f"{record.detail}\n" if record.detail else "") + record.error
    return record, text
