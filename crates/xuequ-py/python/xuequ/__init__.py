"""xuequ (学区): entry-grade seat allocation and catchment zoning, from Python.

Every decision is made by the xuequ Rust library (the native module ``xuequ._xuequ``);
this module only turns the library's tables into pandas DataFrames and dicts, and fans a
lottery sweep out to processes or a Ray cluster. See docs/python.md.
"""

from __future__ import annotations

import io
import json
import os
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from . import _xuequ
from ._xuequ import AuditError, FileError, InputError, RequestError, XuequError

__version__ = _xuequ.__version__

__all__ = [
    "Scenario",
    "Allocation",
    "Files",
    "compare",
    "sweep",
    "synth",
    "XuequError",
    "InputError",
    "FileError",
    "RequestError",
    "AuditError",
]

PathLike = Union[str, "os.PathLike[str]"]

# The tables a scenario may take as DataFrames, by their [inputs] key.
TABLE_KEYS = ("schools", "blocks", "zones", "students", "seat_locks", "distances")


def _pandas():
    import pandas

    return pandas


def frame(csv: bytes, numeric: bool = False):
    """A CSV table of the library as a DataFrame.

    Every value is kept as the text the library wrote (empty cells are ``""``), so the frame
    round-trips to the same bytes and no id loses a leading zero. ``numeric=True`` converts
    each column whose every non-empty value is a number.
    """
    pd = _pandas()
    df = pd.read_csv(io.BytesIO(csv), dtype=str, keep_default_na=False, encoding="utf-8-sig")
    if numeric:
        for column in df.columns:
            values = df[column]
            filled = values[values != ""]
            converted = pd.to_numeric(filled, errors="coerce")
            if len(filled) and not converted.isna().any():
                df[column] = pd.to_numeric(values.replace("", None), errors="coerce")
    return df


def _csv_bytes(table: Any) -> bytes:
    """A DataFrame (or CSV text/bytes, or a path) as UTF-8 CSV bytes."""
    if isinstance(table, bytes):
        return table
    if isinstance(table, str):
        return table.encode("utf-8")
    if isinstance(table, os.PathLike):
        with open(table, "rb") as f:
            return f.read()
    if hasattr(table, "to_csv"):
        # pandas reads a whole-number column with empty cells as floats (25 -> 25.0); write
        # such columns back as the whole numbers they were.
        converted = table
        for column in table.columns:
            values = table[column]
            if values.dtype.kind == "f" and (values.dropna() % 1 == 0).all():
                if converted is table:
                    converted = table.copy()
                converted[column] = values.astype("Int64")
        return converted.to_csv(index=False).encode("utf-8")
    raise TypeError(f"expected a DataFrame, CSV text or bytes, got {type(table).__name__}")


class Files:
    """Output files of a command by name (``files["zones.csv"]`` is bytes), as the command
    line writes them; ``table(name)`` gives a CSV as a DataFrame, ``json(name)`` a JSON
    file as a dict, ``geo(name)`` a GeoJSON file as a GeoDataFrame (needs geopandas)."""

    def __init__(self, files: Dict[str, bytes]):
        self.files = dict(files)

    def __getitem__(self, name: str) -> bytes:
        return self.files[name]

    def __contains__(self, name: str) -> bool:
        return name in self.files

    def names(self) -> List[str]:
        return sorted(self.files)

    def table(self, name: str, numeric: bool = False):
        return frame(self.files[name], numeric=numeric)

    def json(self, name: str) -> Any:
        return json.loads(self.files[name])

    def geo(self, name: str):
        try:
            import geopandas
        except ImportError as e:  # optional dependency
            raise ImportError("geo() needs geopandas: pip install geopandas") from e
        return geopandas.read_file(io.BytesIO(self.files[name]))

    def write(self, out_dir: PathLike) -> List[str]:
        """Writes every file into ``out_dir`` (created if absent)."""
        os.makedirs(out_dir, exist_ok=True)
        paths = []
        for name, data in sorted(self.files.items()):
            path = os.path.join(out_dir, name)
            with open(path, "wb") as f:
                f.write(data)
            paths.append(path)
        return paths

    def __repr__(self) -> str:
        return f"Files({', '.join(self.names())})"


class Scenario:
    """A loaded, validated scenario: ``Scenario.load(path)`` or ``Scenario.from_frames(...)``.

    Pickles (its tables travel with it), so it can be sent to worker processes and Ray."""

    def __init__(self, native: "_xuequ.Scenario"):
        self._native = native

    @staticmethod
    def load(path: PathLike, seed: Optional[int] = None, strict: bool = False) -> "Scenario":
        """Loads ``scenario.toml`` and every input it names (``InputError`` lists every problem)."""
        return Scenario(_xuequ.Scenario.load(os.fspath(path), seed, strict))

    @staticmethod
    def from_frames(
        schools: Any,
        blocks: Any,
        students: Any,
        zones: Any = None,
        seat_locks: Any = None,
        distances: Any = None,
        policy: Optional[str] = None,
        scenario: Optional[str] = None,
        name: str = "frames",
        year: int = 2026,
        path: PathLike = "frames/scenario.toml",
        seed: Optional[int] = None,
        strict: bool = False,
    ) -> "Scenario":
        """A scenario from DataFrames in the columns of the input files (docs/inputs.md).

        ``policy`` is the text of a policy.toml; ``scenario`` the text of a scenario.toml
        (default: ``name``, ``year``, every stage). Problems name ``<folder of path>/<key>.csv``
        and the line of the row as the CSV of the frame has it (the header is line 1)."""
        tables = {}
        for key, table in zip(TABLE_KEYS, (schools, blocks, zones, students, seat_locks, distances)):
            if table is not None:
                tables[key] = _csv_bytes(table)
        text = scenario if scenario is not None else f"name = {json.dumps(name)}\nyear = {int(year)}\n"
        return Scenario(_xuequ.Scenario.from_tables(text, os.fspath(path), tables, policy, seed, strict))

    def __reduce__(self):
        return (_rebuild, (self._native.state(),))

    def info(self) -> Dict[str, Any]:
        """Name, year, stages, seed, counts, distance source, inputs and plausibility warnings."""
        return self._native.info()

    def with_seed(self, seed: int) -> "Scenario":
        """The same scenario with another lottery seed."""
        return Scenario(self._native.with_seed(seed))

    def allocate(self) -> "Allocation":
        """Allocates every stage (as ``xuequ run``)."""
        return Allocation(self._native.allocate())

    def risk(self, seeds: int = 1000, table: str = "applicants", numeric: bool = False):
        """Admission odds over ``seeds`` lottery draws, as ``xuequ run --lotteries``:
        ``table`` is ``applicants``, ``blocks``, ``schools`` or ``all`` (a dict of the three)."""
        tally = self._native.risk_tally(0, int(seeds))
        return _risk_frames(self._native.risk_tables(tally), table, numeric)

    def zone(self, stage: Optional[str] = None, config: Optional[PathLike] = None) -> Files:
        """Proposes catchment zones (as ``xuequ zone``); ``config`` is a zoning.toml path."""
        text = None
        if config is not None:
            with open(config, encoding="utf-8-sig") as f:
                text = f.read()
        return Files(self._native.zone(stage, text, None if config is None else os.fspath(config)))

    def lookup(self, lon: Union[float, Sequence[float]], lat: Union[float, Sequence[float]],
               stage: Optional[str] = None, cell_radius: int = 2000):
        """Which schools serve the point(s), from the zones (as ``xuequ lookup``): a
        DataFrame, one row per point and stage."""
        lons = list(lon) if isinstance(lon, (list, tuple)) or hasattr(lon, "__array__") else [lon]
        lats = list(lat) if isinstance(lat, (list, tuple)) or hasattr(lat, "__array__") else [lat]
        rows = self._native.lookup(list(zip(map(float, lons), map(float, lats))), stage, cell_radius)
        return _pandas().DataFrame(rows, columns=["lon", "lat", "stage", "school_ids", "school_names", "distances_m"])

    def forecast(self, years: Optional[int] = None, stages: Optional[List[str]] = None,
                 planning: Optional[PathLike] = None, population: Optional[PathLike] = None) -> Files:
        """Forecasts demand, seats and shortfalls (as ``xuequ forecast``)."""
        return Files(self._native.forecast(years, stages, _opt_path(planning), _opt_path(population)))

    def check_development(self, blocks: Iterable[str] = (), development: Optional[PathLike] = None,
                          years: Optional[int] = None, stages: Optional[List[str]] = None,
                          planning: Optional[PathLike] = None, population: Optional[PathLike] = None) -> Files:
        """Whether new or named blocks are covered by their zone schools (as ``xuequ check-development``)."""
        return Files(self._native.check_development(list(blocks), _opt_path(development), years, stages,
                                                    _opt_path(planning), _opt_path(population)))

    def site(self, stage: str, new_schools: int, sites: PathLike, site_distances: Optional[PathLike] = None,
             objective: Optional[str] = None, year: Optional[int] = None, years: Optional[int] = None,
             planning: Optional[PathLike] = None, population: Optional[PathLike] = None,
             exact: bool = False) -> Files:
        """Chooses sites for new schools (as ``xuequ site``)."""
        return Files(self._native.site(stage, new_schools, os.fspath(sites), _opt_path(site_distances), objective,
                                       year, years, _opt_path(planning), _opt_path(population), exact))

    def roads(self) -> Files:
        """The road network measured (as ``xuequ roads``): ``distances.csv`` (reusable as
        ``distance = "matrix"``) and ``roads_report.json``."""
        return Files(self._native.roads())

    def zones_from_list(self, list: PathLike, stage: str) -> Files:
        """Zones from a published 划片 list (as ``xuequ zones-from-list``): ``zones.csv`` and
        ``match_report.csv``."""
        return Files(self._native.zones_from_list(os.fspath(list), stage))

    def __repr__(self) -> str:
        info = self.info()
        return f"Scenario({info['name']!r}, {info['applicants']} applicants, seed {info['seed']})"


def _rebuild(state: Tuple[Any, ...]) -> Scenario:
    text, path, tables, policy, seed, strict = state
    return Scenario(_xuequ.Scenario.from_tables(text, path, tables, policy, seed, strict))


def _opt_path(p: Optional[PathLike]) -> Optional[str]:
    return None if p is None else os.fspath(p)


class Allocation:
    """The result of :meth:`Scenario.allocate`."""

    def __init__(self, native: "_xuequ.Allocation"):
        self._native = native

    def assignments(self, numeric: bool = False):
        """``assignments.csv`` as a DataFrame: one row per applicant."""
        return frame(self._native.assignments_csv(), numeric=numeric)

    def schools(self, numeric: bool = False):
        """``schools_summary.csv`` as a DataFrame: one row per school and stage."""
        return frame(self._native.schools_csv(), numeric=numeric)

    def csv(self, name: str) -> bytes:
        """``assignments.csv`` or ``schools_summary.csv``, byte for byte as ``xuequ run``."""
        if name == "assignments.csv":
            return self._native.assignments_csv()
        if name == "schools_summary.csv":
            return self._native.schools_csv()
        raise RequestError(f"no table {name!r} (fix: assignments.csv or schools_summary.csv)")

    def summary(self) -> Dict[str, Any]:
        """``summary.json`` as a dict."""
        return json.loads(self._native.summary_json())

    def audit(self, check: bool = False) -> Dict[str, Any]:
        """The audit of every rule; ``check=True`` raises ``AuditError`` on a violation."""
        if check:
            self._native.check()
        return json.loads(self._native.audit_json())

    def explain(self, student_id: str) -> Dict[str, Any]:
        """One applicant's list, tiers, cutoffs and result; ``["text"]`` is ``xuequ explain``'s."""
        text, fields = self._native.explain(student_id)
        fields["text"] = text
        return fields

    def school_of(self, student_id: str) -> Optional[str]:
        """The school id where the applicant has a seat, ``None`` when unplaced."""
        return self._native.school_of(student_id)

    def write(self, out_dir: PathLike, html: bool = False, xlsx: bool = False, layers: bool = False) -> List[str]:
        """Writes the run's files into ``out_dir`` as ``xuequ run`` does."""
        return self._native.write(os.fspath(out_dir), html, xlsx, layers)


def compare(base: Allocation, alt: Allocation) -> Files:
    """Who moves between the scenarios of two allocations, and how schools change (as
    ``xuequ compare``: changes.csv, schools_delta.csv, comparison.json, compare.html)."""
    return Files(_xuequ.compare(base._native, alt._native))


def synth(out_dir: PathLike, preset: str = "demo", applicants: Optional[int] = None,
          seed: Optional[int] = None, year: Optional[int] = None) -> Dict[str, Any]:
    """Generates a synthetic city into ``out_dir`` (as ``xuequ synth``): schools, blocks,
    zones, applicants, policy and scenario; returns its counts. ``seed`` and ``year``
    default to the generator's (those of ``xuequ synth``)."""
    kwargs: Dict[str, Any] = {}
    if seed is not None:
        kwargs["seed"] = int(seed)
    if year is not None:
        kwargs["year"] = int(year)
    return _xuequ.synth(os.fspath(out_dir), preset, applicants, **kwargs)


def _risk_frames(tables: Dict[str, bytes], table: str, numeric: bool):
    frames = {name[len("risk_"):-len(".csv")]: frame(data, numeric=numeric) for name, data in tables.items()}
    if table == "all":
        return frames
    if table not in frames:
        raise RequestError(f"no risk table {table!r} (fix: applicants, blocks, schools or all)")
    return frames[table]


def _tally_task(scenario: Scenario, start: int, end: int) -> bytes:
    """One sweep task: a pure function of its inputs (the scenario and a draw range)."""
    return scenario._native.risk_tally(start, end)


def sweep(
    scenarios: Sequence[Union[PathLike, Scenario]],
    seeds: int = 200,
    backend: str = "serial",
    chunk: Optional[int] = None,
    workers: Optional[int] = None,
    table: str = "applicants",
    numeric: bool = False,
):
    """Lottery risk of several scenarios over ``seeds`` draws each, split into tasks.

    Each task counts one range of draws of one scenario; the library merges the counts, so
    the result equals one ``xuequ run --lotteries SEEDS`` per scenario whatever the split
    and backend. ``backend``: ``serial``, ``process`` (a local process pool of ``workers``)
    or ``ray`` (the cluster of ``ray.init()``, started locally if not yet; each scenario is
    shipped once with ``ray.put``). Returns ``table`` (``applicants``, ``blocks``,
    ``schools``) with a leading ``scenario`` column (the scenario's position in
    ``scenarios``), or with ``table="all"`` a dict of the three.
    """
    loaded = [s if isinstance(s, Scenario) else Scenario.load(s) for s in scenarios]
    size = int(chunk) if chunk else max(1, -(-int(seeds) // 8))
    ranges = _xuequ.draw_chunks(int(seeds), size)
    jobs = [(i, start, end) for i in range(len(loaded)) for (start, end) in ranges]
    if backend == "serial":
        tallies = [_tally_task(loaded[i], start, end) for (i, start, end) in jobs]
    elif backend == "process":
        import concurrent.futures
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(_tally_task, loaded[i], start, end) for (i, start, end) in jobs]
            tallies = [f.result() for f in futures]
    elif backend == "ray":
        import ray

        if not ray.is_initialized():
            ray.init()
        task = ray.remote(_tally_task)
        refs = [ray.put(s) for s in loaded]
        tallies = ray.get([task.remote(refs[i], start, end) for (i, start, end) in jobs])
    else:
        raise RequestError(f"unknown backend {backend!r} (fix: serial, process or ray)")
    per_scenario: List[List[bytes]] = [[] for _ in loaded]
    for (i, _, _), tally in zip(jobs, tallies):
        per_scenario[i].append(tally)
    pd = _pandas()
    results = []
    for i, (scenario, parts) in enumerate(zip(loaded, per_scenario)):
        merged = _xuequ.merge_tallies(parts) if parts else scenario._native.risk_tally(0, 0)
        results.append(_risk_frames(scenario._native.risk_tables(merged), "all", numeric))
    names = ("applicants", "blocks", "schools")
    combined = {}
    for name in names:
        frames = []
        for i, r in enumerate(results):
            df = r[name].copy()
            df.insert(0, "scenario", i)
            frames.append(df)
        combined[name] = pd.concat(frames, ignore_index=True)
    if table == "all":
        return combined
    if table not in combined:
        raise RequestError(f"no risk table {table!r} (fix: applicants, blocks, schools or all)")
    return combined[table]
