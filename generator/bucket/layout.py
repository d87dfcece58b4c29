"""Where a run's files live in the output bucket, and how a file is named there.

    <output.prefix><run>/plan.json             the plan (width, reasons, shard sizes)
    <output.prefix><run>/index.tsv             every planned file: id, size, key
    <output.prefix><run>/shards/<shard>.tsv    one worker's manifest: id, JSON key, relative key
    <output.prefix><run>/units.tsv             each shard and its count of units (see claims)
    <output.prefix><run>/claims/<shard>/<k>    who holds unit k of a shard; /tail, /head: hints
    <output.prefix><run>/stolen/<shard>/<victim>.<k>  units a worker took from another shard
    <output.prefix><run>/finished/<shard>      a shard with no unit left to take
    <output.prefix><run>/results/<shard>/<name>.results  results of a group of files (results.py)
    <output.prefix><run>/outputs/<relative key>/<name>  what the service wrote for that file
    <output.prefix><run>/report.json, report.csv, report.html
    <output.prefix><run>/compare.html          against the run of another service version before
    <output.prefix><run>/results.jsonl, results.csv  the outputs' records, merged (output.merge)
    <output.prefix><run>/counts.tsv            records per merged output: sha256, count, name
    <output.prefix><run>/lock.json             held from plan to aggregate (see runlock)

A file's id is a hash of its key, so a result is found from the key alone, whichever shard
or plan processed it; that is what lets a re-submitted run skip what is already done.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from generator.errors import SpecError
from generator.spec.model import DNS_LABEL, BatchSpec


def file_id(key: str) -> str:
    """A short stable id for an object key (64 bits: no collision in practice below 10^8 keys)."""
    return hashlib.sha1(key.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]


def shard_id(index: int, count: int) -> str:
    """Zero-padded so ids sort as numbers and stay the same on every retry of a plan."""
    return f"{index:0{max(4, len(str(count - 1)))}d}"


def manifest_line(key: str, relative: str) -> str:
    """One manifest line: id, the key as JSON (for the EVENT variable), the key under the prefix.

    The relative key comes last so the runner can take "the rest of the line" and keep tabs
    inside keys intact; keys with newlines cannot be written here (see `manifest_safe`).
    """
    return f"{file_id(key)}\t{json.dumps(key, ensure_ascii=False)}\t{relative}\n"


def manifest_safe(key: str) -> bool:
    """Line-based manifests cannot hold keys with line breaks."""
    return "\n" not in key and "\r" not in key


def check_run(run: str) -> str:
    """A run name becomes part of object keys and workflow labels: keep it a DNS label.

    Raises:
        SpecError: the name is not a DNS label.
    """
    if not DNS_LABEL.fullmatch(run) or len(run) > 63:
        raise SpecError(
            f"run name {run!r} must be lowercase letters, digits and '-' (at most 63), not a path"
        )
    return run


@dataclass(frozen=True)
class RunLayout:
    """Object keys of one run in the output bucket."""

    bucket: str
    root: str

    @classmethod
    def of(cls, spec: BatchSpec, run: str) -> RunLayout:
        return cls(spec.output_bucket, f"{spec.output.prefix}{check_run(run)}/")

    @property
    def plan(self) -> str:
        return self.root + "plan.json"

    @property
    def index(self) -> str:
        return self.root + "index.tsv"

    @property
    def results(self) -> str:
        return self.root + "results/"

    @property
    def outputs(self) -> str:
        return self.root + "outputs/"

    @property
    def report_json(self) -> str:
        return self.root + "report.json"

    @property
    def report_csv(self) -> str:
        return self.root + "report.csv"

    @property
    def report_html(self) -> str:
        return self.root + "report.html"

    @property
    def compare_html(self) -> str:
        return self.root + "compare.html"

    @property
    def lock(self) -> str:
        return self.root + "lock.json"

    @property
    def counts(self) -> str:
        return self.root + "counts.tsv"

    def merged(self, extension: str) -> str:
        return f"{self.root}results.{extension}"

    def shard(self, sid: str) -> str:
        return f"{self.root}shards/{sid}.tsv"

    @property
    def units(self) -> str:
        return self.root + "units.tsv"

    def claim(self, sid: str, unit: int) -> str:
        return f"{self.root}claims/{sid}/{unit}"

    def tail(self, sid: str) -> str:
        return f"{self.root}claims/{sid}/tail"

    def head(self, sid: str) -> str:
        return f"{self.root}claims/{sid}/head"

    @property
    def finished(self) -> str:
        return self.root + "finished/"

    @property
    def stolen(self) -> str:
        return self.root + "stolen/"


# The aggregate's output parameters: the workflow declares them, the aggregate stage writes them.
OUTPUT_PARAMETERS = (
    "processed", "succeeded", "failed", "missing", "report", "files_per_second", "wall_seconds",
)  # fmt: skip
# The aggregate's output artifacts (Argo name, file name): copies of what it stores in the bucket.
OUTPUT_ARTIFACTS = (
    ("report-html", "report.html"),
    ("report-json", "report.json"),
    ("compare-html", "compare.html"),  # only when the run has a predecessor (stages/comparing)
)


def index_line(key: str, size: int) -> str:
    """index.tsv's line of a planned file: id, size and the key last (it may hold tabs)."""
    return f"{file_id(key)}\t{size}\t{key}\n"


def rejected_index_line(key: str, reason: str) -> str:
    """index.tsv's line of a key the plan cannot process: as JSON (it may hold line breaks)."""
    return f"-\t0\t{json.dumps(key)}\t{reason}\n"


def parse_index_line(line: str) -> tuple[str, int, str, str]:
    """(id, size, key, why unsupported or "") of an index.tsv line (written by `index_line`).

    The key comes last and may hold tabs; an unsupported key is written as JSON (it may hold
    line breaks) followed by the reason.
    """
    fid, size, key = line.split("\t", 2)
    if fid == "-":
        text, reason = key.rsplit("\t", 1)
        return fid, int(size), json.loads(text), reason
    return fid, int(size), key, ""


class RunFolders:
    """Recognises run folders in a listing, whatever spec wrote them: a folder holding both
    `plan.json` and `index.tsv` is one. Its bookkeeping (everything but `outputs/`) is never
    input: a service whose input folder holds another run's folder (a chain of services in
    layout run, or input and output in one folder) must not process plans and results.
    """

    def __init__(self) -> None:
        self._plans: set[str] = set()
        self._indexes: set[str] = set()

    def see(self, key: str) -> None:
        """Note one listed key."""
        folder, _, name = key.rpartition("/")
        if name == "plan.json":
            self._plans.add(folder + "/")
        elif name == "index.tsv":
            self._indexes.add(folder + "/")

    def roots(self) -> set[str]:
        """The run folders seen so far, each ending in '/'."""
        return self._plans & self._indexes

    @staticmethod
    def bookkeeping(key: str, roots: set[str]) -> bool:
        """Whether `key` is a run's own file (not one of its outputs) under one of `roots`."""
        at = key.find("/")
        while at != -1:
            if key[: at + 1] in roots and not key.startswith("outputs/", at + 1):
                return True
            at = key.find("/", at + 1)
        return False
