"""The run contract: what a run is asked to do, every limit it runs under, and what it did.

``RunRequest`` goes from a view through ``sandbox.runner`` to the worker;
``RunResult`` (with its ``Query``, ``Finding`` and ``RunError``) comes back. Every
limit is a field of ``Limits`` with one default, read everywhere from there.
The JSON a run answers with (``POST /api/run``, ``manage.py run_snippet``) is made
by ``RunResult.to_json()`` and nowhere else.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

ErrorKind = Literal[
    "syntax", "exception", "forbidden", "timeout", "memory", "output_limit", "busy", "internal"
]
ERROR_KINDS: frozenset[str] = frozenset(ErrorKind.__args__)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Limits:
    """Everything a run may use. Each figure is defined here and only here."""

    wall_seconds: float = 8.0  # from the code's first line to its last, statements included
    cpu_seconds: int = 5  # of the process running the code
    memory_mb: int = 512  # address space the code may add to its process
    output_bytes: int = 64 * 1024  # what it prints; more stops the run
    code_bytes: int = 20 * 1024  # the submitted source, and the models source beside it
    max_models: int = 30  # model classes a models source may define
    statement_ms: int = 5_000  # one SQL statement, in the database
    max_repeat: int = 20
    max_latency_ms: float = 50.0  # simulated network round trip per statement
    queries_reported: int = 2_000  # statements listed in a result (all are counted)
    queue_seconds: float = 2.0  # a run waits this long for a free slot, then is told "busy"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Limits:
        return cls(**{key: type(getattr(LIMITS, key))(value) for key, value in data.items()})


LIMITS = Limits()


@dataclass(frozen=True)
class DatasetRef:
    """A dataset by name: its size and its seed."""

    size: str
    seed: int

    def key(self) -> str:
        return f"{self.size}-{self.seed}"


@dataclass(frozen=True)
class RunRequest:
    """One run: the code and how to run it.

    ``repeat`` runs it that many times, each in a fresh process on a fresh copy
    of the data, for the timing's median and spread; everything else comes from
    the first. ``probe`` is the grader's code, run after the learner's code has
    ended, outside its reach; it needs ``repeat == 1``. ``explain`` asks the
    supervisor for the plan of every SELECT the code sent (``Query.plan``).
    """

    code: str
    repeat: int = 1
    latency_ms: float = 0.0
    dataset: DatasetRef | None = None  # None: the live dataset
    probe: str | None = None
    limits: Limits = LIMITS
    explain: bool = False
    models: str = ""  # the learner's own model classes, created in the run's copy before the code runs

    def clamped(self) -> RunRequest:
        """The request with ``repeat`` and ``latency_ms`` brought inside the limits."""
        repeat = 1 if self.probe else max(1, min(int(self.repeat), self.limits.max_repeat))
        latency = max(0.0, min(float(self.latency_ms), self.limits.max_latency_ms))
        return replace(self, repeat=repeat, latency_ms=latency)

    def refusal(self) -> RunError | None:
        """Why the request is refused before it runs, if it is."""
        if len(self.code.encode()) > self.limits.code_bytes:
            return RunError("forbidden", f"The code is over {self.limits.code_bytes // 1024} KB; shorten it.")
        if len(self.models.encode()) > self.limits.code_bytes:
            return RunError(
                "forbidden",
                f"The models are over {self.limits.code_bytes // 1024} KB; shorten them.",
                source="models",
            )
        return None


@dataclass(frozen=True)
class RunError:
    kind: ErrorKind
    message: str
    line: int | None = None
    traceback: str | None = None
    source: Literal["code", "models"] = "code"  # which editor ``line`` is in

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunError:
        kind = data.get("kind")
        return cls(
            kind if kind in ERROR_KINDS else "internal",
            str(data.get("message", "")),
            data.get("line") if isinstance(data.get("line"), int) else None,
            data.get("traceback") if isinstance(data.get("traceback"), str) else None,
            "models" if data.get("source") == "models" else "code",
        )


@dataclass(frozen=True)
class Query:
    """One statement as the run's supervisor executed it.

    ``ms`` is the time the database spent on it (executing and handing over
    its rows), ``rows`` how many rows it returned or changed. ``line`` is the
    line of the submitted code that sent it, as the code's own process said:
    shown to the learner, never used to count or judge. ``control`` marks
    transaction control (BEGIN, COMMIT, SAVEPOINT...), listed but not counted.
    ``streamed``: its rows went to the code in chunks, as it asked for them
    (``iterator()``), not all at once. ``plan``: the database's plan for it,
    when the run asked for plans (``RunRequest.explain``). ``filled``: the
    statement with its parameters in place, quoted by the backend as it
    received them (Django's ``last_executed_query``), for the reported ones.
    """

    sql: str
    params: list[Any] | None
    ms: float
    rows: int = 0
    line: int | None = None
    many: bool = False
    control: bool = False
    error: str | None = None
    streamed: bool = False
    plan: str | None = None
    filled: str | None = None

    def to_json(self) -> dict[str, Any]:
        # By hand, not asdict(): a run can list two thousand of these.
        return {
            "sql": self.sql, "params": self.params, "ms": self.ms, "rows": self.rows, "line": self.line,
            "many": self.many, "control": self.control, "error": self.error, "streamed": self.streamed,
            "plan": self.plan, "filled": self.filled,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Query:
        return cls(**data)


@dataclass(frozen=True)
class Finding:
    """A pattern in a run's statements worth a learner's attention, with its fix."""

    kind: str
    line: int | None
    count: int
    relation: str
    fix: str
    message: str
    sql: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Timing:
    """Wall-clock milliseconds over a run's repeats."""

    median: float = 0.0
    min: float = 0.0
    max: float = 0.0
    n: int = 0

    @classmethod
    def of(cls, samples: list[float]) -> Timing:
        if not samples:
            return cls()
        return cls(
            round(statistics.median(samples), 3), round(min(samples), 3), round(max(samples), 3), len(samples)
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunResult:
    """Everything one run did, as measured by its supervisor; ``to_json()`` is the API's shape."""

    stdout: str = ""
    truncated: bool = False
    error: RunError | None = None
    queries: list[Query] = field(default_factory=list)
    query_count: int = 0
    db_ms: float = 0.0
    wall_ms: Timing = field(default_factory=Timing)
    findings: list[Finding] = field(default_factory=list)
    dataset: dict[str, Any] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=lambda: {"per_query_ms": 0.0, "simulated_ms": 0.0})
    # The learner's own models as the child described them (sandbox.worker.own_models), for the
    # diagram only: names and fields to draw, never a figure.
    models: list[dict[str, Any]] = field(default_factory=list)
    probe_output: str | None = None  # the grader's, never part of the JSON

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        return {
            "stdout": self.stdout,
            "truncated": self.truncated,
            "error": self.error.to_json() if self.error else None,
            "queries": [q.to_json() for q in self.queries],
            "query_count": self.query_count,
            "db_ms": self.db_ms,
            "wall_ms": self.wall_ms.to_json(),
            "findings": [f.to_json() for f in self.findings],
            "dataset": self.dataset,
            "latency": self.latency,
            "models": self.models,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], *, probe_output: str | None = None) -> RunResult:
        """A result as ``to_json()`` made it (findings are the analysis' to add)."""
        error = data.get("error")
        return cls(
            stdout=data["stdout"],
            truncated=data["truncated"],
            error=RunError.from_json(error) if error else None,
            queries=[Query.from_json(q) for q in data["queries"]],
            query_count=data["query_count"],
            db_ms=data["db_ms"],
            wall_ms=Timing(**data["wall_ms"]),
            findings=[Finding(**f) for f in data.get("findings", [])],
            dataset=data["dataset"],
            latency=data["latency"],
            models=list(data.get("models") or []),
            probe_output=probe_output,
        )

    @classmethod
    def failure(
        cls,
        kind: ErrorKind,
        message: str,
        dataset: DatasetRef | None = None,
        *,
        source: Literal["code", "models"] = "code",
    ) -> RunResult:
        described: dict[str, Any] = (
            {"size": dataset.size, "seed": dataset.seed, "digest": None} if dataset else {}
        )
        return cls(error=RunError(kind, message, source=source), dataset=described)
