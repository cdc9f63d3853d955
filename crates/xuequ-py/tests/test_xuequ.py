"""The Python package against the command line: every capability called once, each result
checked against what `xuequ` writes for the same inputs (or against another library call)."""

import json
import pickle
import re
import shutil

import pandas as pd
import pytest

import xuequ
from conftest import DEMO, TINY

TABLES = ("schools", "blocks", "zones", "students", "seat_locks")


def demo_frames(**read_csv):
    return {key: pd.read_csv(DEMO / f"{key}.csv", **read_csv) for key in TABLES}


def from_frames(frames, tmp_path, **kw):
    return xuequ.Scenario.from_frames(
        policy=(DEMO / "policy.toml").read_text(encoding="utf-8"),
        scenario=(DEMO / "scenario.toml").read_text(encoding="utf-8"),
        # A folder without the input files: the tables come from the frames only.
        path=tmp_path / "frames" / "scenario.toml",
        **frames,
        **kw,
    )


@pytest.fixture(scope="module")
def demo():
    return xuequ.Scenario.load(DEMO / "scenario.toml")


@pytest.fixture(scope="module")
def allocation(demo):
    return demo.allocate()


@pytest.mark.parametrize("read_csv", [{"dtype": str, "keep_default_na": False}, {}], ids=["text", "inferred"])
def test_frames_allocate_to_the_cli_assignments_byte_for_byte(read_csv, demo_run, tmp_path):
    s = from_frames(demo_frames(**read_csv), tmp_path)
    a = s.allocate()
    expected = (demo_run / "assignments.csv").read_bytes()
    assert a.csv("assignments.csv") == expected
    # The DataFrame holds the file's columns and values: it writes back the same bytes.
    df = a.assignments()
    assert list(df.columns)[:3] == ["student_id", "stage", "school_id"]
    assert df.to_csv(index=False).encode("utf-8") == expected
    assert a.schools().to_csv(index=False).encode("utf-8") == (demo_run / "schools_summary.csv").read_bytes()
    assert s.info()["inputs"][0] == "schools.csv (memory, utf-8)"
    # The manifest records the frames' text, not files of those names.
    a.write(tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    names = [i["path"].rsplit("/", 1)[-1] for i in manifest["inputs"]]
    tables = ("schools", "blocks", "students", "zones", "seat_locks")
    assert names == [f"{key}.csv (in memory)" for key in tables] + ["policy.toml (in memory)"]
    assert all(i["bytes"] > 0 and len(i["sha256"]) == 64 for i in manifest["inputs"])


def test_allocation_results_match_the_cli(allocation, demo_run, tmp_path):
    summary = allocation.summary()
    assert summary == json.loads((demo_run / "summary.json").read_text(encoding="utf-8"))
    audit = allocation.audit(check=True)
    assert audit["checks"] and all(c["passed"] or not c["enforced"] for c in audit["checks"])
    numeric = allocation.assignments(numeric=True)
    assert numeric["lottery"].dtype.kind == "i" and not pd.api.types.is_numeric_dtype(numeric["student_id"])
    written = allocation.write(tmp_path / "out")
    assert any(p.endswith("assignments.csv") for p in written)
    for name in ("assignments.csv", "schools_summary.csv", "districts_summary.csv", "summary.json"):
        assert (tmp_path / "out" / name).read_bytes() == (demo_run / name).read_bytes(), name


def test_explain_and_school_of_agree_with_the_assignments(allocation, cli):
    df = allocation.assignments()
    for row in df.head(40).itertuples():
        assert allocation.school_of(row.student_id) == (row.school_id or None)
        why = allocation.explain(row.student_id)
        assert why["student_id"] == row.student_id and why["stage"] == row.stage
        if row.school_id:
            assert any(c["school_id"] == row.school_id for c in why["choices"]) or row.via == "overflow"
    first = df.iloc[0].student_id
    text = cli("explain", DEMO / "scenario.toml", first).stdout
    assert allocation.explain(first)["text"] == text
    with pytest.raises(xuequ.RequestError, match="no applicant"):
        allocation.school_of("nobody")


def test_input_errors_carry_file_line_column_and_fix(tmp_path):
    frames = demo_frames(dtype=str, keep_default_na=False)
    frames["students"].loc[4, "hukou_in_zone"] = "maybe"
    with pytest.raises(xuequ.InputError) as caught:
        from_frames(frames, tmp_path)
    e = caught.value
    assert e.file.endswith("students.csv")
    # Row 4 of the frame is line 6 of its CSV (the header is line 1).
    assert (e.line, e.field, e.value) == (6, "hukou_in_zone", "maybe")
    assert e.column == list(frames["students"].columns).index("hukou_in_zone") + 1
    assert "true or false" in e.fix
    assert e.problems[0]["line"] == 6 and isinstance(e, xuequ.XuequError)
    with pytest.raises(xuequ.FileError) as missing:
        xuequ.Scenario.load(tmp_path / "none.toml")
    assert missing.value.file.endswith("none.toml")
    with pytest.raises(xuequ.RequestError, match="unknown input table"):
        xuequ._xuequ.Scenario.from_tables("name = 'x'\nyear = 2026\n", str(tmp_path / "s.toml"), {"roads": b""})


def test_a_scenario_pickles_with_its_tables(demo, allocation):
    again = pickle.loads(pickle.dumps(demo))
    assert again.info()["seed"] == demo.info()["seed"]
    assert again.allocate().csv("assignments.csv") == allocation.csv("assignments.csv")
    reseeded = demo.with_seed(7)
    assert pickle.loads(pickle.dumps(reseeded)).info()["seed"] == 7


def test_risk_matches_the_cli_lotteries(demo, demo_run):
    tables = demo.risk(200, table="all")
    for name in ("applicants", "blocks", "schools"):
        expected = (demo_run / f"risk_{name}.csv").read_bytes()
        assert tables[name].to_csv(index=False).encode("utf-8") == expected, name


def test_compare_lists_every_applicant_who_moves(demo, allocation):
    other = demo.with_seed(12345).allocate()
    files = xuequ.compare(allocation, other)
    changes = files.table("changes.csv")
    a, b = allocation.assignments(), other.assignments()
    moved = (a["school_id"] != b["school_id"]).sum()
    assert moved > 0 and len(changes) == moved
    assert set(changes["student_id"]) == set(a.loc[a["school_id"] != b["school_id"], "student_id"])


def test_zone_matches_the_cli(demo, cli, tmp_path):
    files = demo.zone(stage="primary")
    cli("zone", DEMO / "scenario.toml", "--stage", "primary", "--out", tmp_path / "zone")
    assert "zones.csv" in files and "zones.geojson" in files
    for name in files.names():
        assert files[name] == (tmp_path / "zone" / name).read_bytes(), name
    # A zoning.toml is read as the command line reads it (the same request), road
    # distances and bad parameters included. On a copy of the demo: the road network's cache
    # is written beside the scenario.
    copy = tmp_path / "demo"
    shutil.copytree(DEMO, copy, ignore=shutil.ignore_patterns(".xuequ-cache"))
    config = tmp_path / "zoning.toml"
    config.write_text('distance = "roads"\nroads = "%s"\n' % (copy / "roads.osm.pbf").as_posix(), encoding="utf-8")
    by_road = xuequ.Scenario.load(copy / "scenario.toml").zone(stage="primary", config=config)
    cli("zone", copy / "scenario.toml", "--stage", "primary", "--config", config, "--out", tmp_path / "road")
    for name in by_road.names():
        assert by_road[name] == (tmp_path / "road" / name).read_bytes(), name
    config.write_text("utilisation = [1.2, 0.5]\n", encoding="utf-8")
    with pytest.raises(xuequ.InputError, match="utilisation"):
        demo.zone(stage="primary", config=config)
    config.write_text("stage = \"junior\"\ncandidates = 4\n", encoding="utf-8")
    cli("zone", DEMO / "scenario.toml", "--config", config, "--out", tmp_path / "junior")
    junior = demo.zone(config=config)
    assert junior["zones.csv"] == (tmp_path / "junior" / "zones.csv").read_bytes()
    zones = files.table("zones.csv")
    assert set(zones.columns) >= {"block_id", "school_id"}
    try:
        import geopandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="geopandas"):
            files.geo("zones.geojson")
    else:
        assert len(files.geo("zones.geojson")) > 0


def test_lookup_finds_a_blocks_zone_school(demo):
    blocks = pd.read_csv(DEMO / "blocks.csv", dtype=str)
    zones = pd.read_csv(DEMO / "zones.csv", dtype=str)
    primary = zones[zones.stage == "primary"].merge(blocks, on="block_id").head(5)
    found = demo.lookup(primary.lon.astype(float).tolist(), primary.lat.astype(float).tolist(), stage="primary")
    assert len(found) == len(primary)
    for (_, want), (_, got) in zip(primary.iterrows(), found.iterrows()):
        assert want.school_id in got.school_ids
        assert all(m is None or m >= 0 for m in got.distances_m)
    with pytest.raises(xuequ.RequestError):
        demo.lookup(500.0, 31.0)


def test_forecast_and_development_match_the_cli(demo, cli, tmp_path):
    files = demo.forecast(years=5)
    cli("forecast", DEMO / "scenario.toml", "--years", 5, "--out", tmp_path / "forecast")
    assert files.names() and all(files[n] == (tmp_path / "forecast" / n).read_bytes() for n in files.names())
    block = pd.read_csv(DEMO / "blocks.csv", dtype=str).block_id[0]
    dev = demo.check_development(blocks=[block], years=5)
    cli("check-development", DEMO / "scenario.toml", "--block", block, "--years", 5, "--out", tmp_path / "dev")
    assert dev.names() and all(dev[n] == (tmp_path / "dev" / n).read_bytes() for n in dev.names())
    with pytest.raises(xuequ.RequestError):
        demo.forecast(years=99)


def test_site_matches_the_cli(demo, cli, tmp_path):
    blocks = pd.read_csv(DEMO / "blocks.csv", dtype=str)
    district = blocks.district.value_counts().index[0]
    chosen = blocks[blocks.district == district].iloc[::4]
    sites = pd.DataFrame({
        "site_id": [f"X{i + 1}" for i in range(len(chosen))],
        "name": [f"{n}地块" for n in chosen.name],
        "district": district,
        "lon": (chosen.lon.astype(float) + 0.0005).round(6).values,
        "lat": chosen.lat.values,
        "capacity": 45,
    })
    path = tmp_path / "sites.csv"
    sites.to_csv(path, index=False)
    files = demo.site("primary", 2, path)
    cli("site", DEMO / "scenario.toml", "--stage", "primary", "--new-schools", 2, "--sites", path,
        "--out", tmp_path / "site")
    assert "sites_chosen.csv" in files
    assert len(files.table("sites_chosen.csv")) == 2
    for name in files.names():
        assert files[name] == (tmp_path / "site" / name).read_bytes(), name


def cli_risk(cli, scenario, out):
    cli("run", scenario, "--out", out, "--no-html", "--lotteries", 200)
    return pd.read_csv(out / "risk_applicants.csv", dtype=str, keep_default_na=False)


def test_sweep_on_local_ray_equals_serial_and_the_cli(cli, tmp_path):
    scenarios = [DEMO / "scenario.toml", TINY / "scenario.toml"]
    expected = [cli_risk(cli, s, tmp_path / f"cli{i}") for i, s in enumerate(scenarios)]
    serial = xuequ.sweep(scenarios, seeds=200, backend="serial", chunk=32)
    for i, want in enumerate(expected):
        got = serial[serial.scenario == i].drop(columns="scenario").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want)
    # A different split gives the same figures.
    pd.testing.assert_frame_equal(xuequ.sweep(scenarios, seeds=200, chunk=200), serial)
    try:
        import ray
    except ImportError:
        pytest.skip("ray is not installed (pip install ray); the Ray sweep was not run")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = xuequ.sweep(scenarios, seeds=200, backend="ray", chunk=25)
    finally:
        ray.shutdown()
    pd.testing.assert_frame_equal(on_ray, serial)


def test_sweep_in_a_process_pool_equals_serial():
    scenarios = [xuequ.Scenario.load(TINY / "scenario.toml")]
    serial = xuequ.sweep(scenarios, seeds=40, table="all")
    pooled = xuequ.sweep(scenarios, seeds=40, backend="process", workers=2, chunk=10, table="all")
    for name in ("applicants", "blocks", "schools"):
        pd.testing.assert_frame_equal(pooled[name], serial[name])
    with pytest.raises(xuequ.RequestError, match="backend"):
        xuequ.sweep(scenarios, seeds=4, backend="spark")


def test_roads_match_the_cli(cli, tmp_path):
    roads = xuequ.Scenario.load(DEMO / "scenario_roads.toml")
    files = roads.roads()
    cli("roads", DEMO / "scenario_roads.toml", "--out", tmp_path / "roads")
    assert files.names() == ["distances.csv", "roads_report.json"]
    for name in files.names():
        assert files[name] == (tmp_path / "roads" / name).read_bytes(), name
    report = files.json("roads_report.json")
    assert report["nodes"] > 0 and report["distance"] == "roads"
    assert set(files.table("distances.csv").columns) >= {"school_id", "block_id", "distance_m"}


def test_zones_from_list_match_the_cli(demo, cli, tmp_path):
    listing = tmp_path / "list.csv"
    listing.write_text(
        "学校,划片范围\n锡山区实验小学,\"安镇北苑、羊尖悦府（五期）、人民路1-99号单号\"\nP0005,盛岸三村；风雅苑\n",
        encoding="utf-8",
    )
    files = demo.zones_from_list(listing, "primary")
    cli("zones-from-list", DEMO / "scenario.toml", "--list", listing, "--stage", "primary", "--out", tmp_path / "z")
    assert files.names() == ["match_report.csv", "zones.csv"]
    for name in files.names():
        assert files[name] == (tmp_path / "z" / name).read_bytes(), name
    assert len(files.table("match_report.csv")) == 5
    listing.write_text("school,blocks\n不存在小学,安镇北苑\n", encoding="utf-8")
    with pytest.raises(xuequ.InputError) as caught:
        demo.zones_from_list(listing, "primary")
    assert caught.value.line == 2 and caught.value.value == "不存在小学"


def test_synth_matches_the_cli(cli, tmp_path):
    counts = xuequ.synth(tmp_path / "py", preset="demo", applicants=600, seed=3)
    cli("synth", "--preset", "demo", "--applicants", 600, "--seed", 3, "--out", tmp_path / "cli")
    names = sorted(p.name for p in (tmp_path / "cli").iterdir() if p.is_file() and p.name != "manifest.json")
    assert names and names == sorted(p.name for p in (tmp_path / "py").iterdir()
                                     if p.is_file() and p.name != "manifest.json")
    # The generated README names the folder the files were staged in; the rest is the same.
    staging = re.compile(rb"\S*\.xuequ-staging-\d+-\d+")
    for name in names:
        py, cli_bytes = ((tmp_path / d / name).read_bytes() for d in ("py", "cli"))
        if name == "README.md":
            py, cli_bytes = staging.sub(b"OUT", py), staging.sub(b"OUT", cli_bytes)
        assert py == cli_bytes, name
    total = sum(counts["applicants"].values())
    students = pd.read_csv(tmp_path / "py" / "students.csv", dtype=str)
    assert total == len(students) and counts["seed"] == 3
    # The generated city loads and allocates.
    assert xuequ.Scenario.load(tmp_path / "py" / "scenario.toml").allocate().audit(check=True)
    with pytest.raises(xuequ.RequestError):
        xuequ.synth(tmp_path / "bad", preset="atlantis")
