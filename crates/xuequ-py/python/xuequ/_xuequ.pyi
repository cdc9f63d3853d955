# Type stubs of the native module (crates/xuequ-py/src/lib.rs). The public API is the
# annotated Python in __init__.py; these describe what it calls.
from os import PathLike
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

__version__: str

_Path = Union[str, PathLike[str]]

class XuequError(Exception): ...

class InputError(XuequError):
    file: Optional[str]
    line: Optional[int]
    column: Optional[int]
    field: Optional[str]
    value: Optional[str]
    fix: Optional[str]
    problems: List[Dict[str, Any]]

class FileError(XuequError):
    file: str

class RequestError(XuequError): ...

class AuditError(XuequError):
    count: int
    first: str

class Scenario:
    @staticmethod
    def load(path: _Path, seed: Optional[int] = None, strict: bool = False) -> Scenario: ...
    @staticmethod
    def from_tables(
        text: str,
        path: _Path,
        tables: Dict[str, bytes],
        policy: Optional[str] = None,
        seed: Optional[int] = None,
        strict: bool = False,
    ) -> Scenario: ...
    def state(self) -> Tuple[str, str, Dict[str, bytes], Optional[str], int, bool]: ...
    def with_seed(self, seed: int) -> Scenario: ...
    def info(self) -> Dict[str, Any]: ...
    def allocate(self) -> Allocation: ...
    def risk_tally(self, start: int, end: int) -> bytes: ...
    def risk_tables(self, tally: bytes) -> Dict[str, bytes]: ...
    def zone(
        self, stage: Optional[str] = None, config: Optional[str] = None, config_path: Optional[_Path] = None
    ) -> Dict[str, bytes]: ...
    def lookup(
        self, points: Sequence[Tuple[float, float]], stage: Optional[str] = None, cell_radius: int = 2000
    ) -> List[Dict[str, Any]]: ...
    def forecast(
        self,
        years: Optional[int] = None,
        stages: Optional[List[str]] = None,
        planning: Optional[_Path] = None,
        population: Optional[_Path] = None,
    ) -> Dict[str, bytes]: ...
    def check_development(
        self,
        blocks: List[str] = ...,
        development: Optional[_Path] = None,
        years: Optional[int] = None,
        stages: Optional[List[str]] = None,
        planning: Optional[_Path] = None,
        population: Optional[_Path] = None,
    ) -> Dict[str, bytes]: ...
    def site(
        self,
        stage: str,
        new_schools: int,
        sites: _Path,
        site_distances: Optional[_Path] = None,
        objective: Optional[str] = None,
        year: Optional[int] = None,
        years: Optional[int] = None,
        planning: Optional[_Path] = None,
        population: Optional[_Path] = None,
        exact: bool = False,
    ) -> Dict[str, bytes]: ...
    def roads(self) -> Dict[str, bytes]: ...
    def zones_from_list(self, list: _Path, stage: str) -> Dict[str, bytes]: ...

class Allocation:
    def assignments_csv(self) -> bytes: ...
    def schools_csv(self) -> bytes: ...
    def summary_json(self) -> bytes: ...
    def audit_json(self) -> bytes: ...
    def check(self) -> None: ...
    def explain(self, student_id: str) -> Tuple[str, Dict[str, Any]]: ...
    def school_of(self, student_id: str) -> Optional[str]: ...
    def write(self, out_dir: _Path, html: bool = False, xlsx: bool = False, layers: bool = False) -> List[str]: ...

def merge_tallies(tallies: List[bytes]) -> bytes: ...
def draw_chunks(draws: int, size: int) -> List[Tuple[int, int]]: ...
def compare(base: Allocation, alt: Allocation) -> Dict[str, bytes]: ...
def synth(
    out_dir: _Path,
    preset: str = "demo",
    applicants: Optional[int] = None,
    seed: int = ...,
    year: int = ...,
) -> Dict[str, Any]: ...
