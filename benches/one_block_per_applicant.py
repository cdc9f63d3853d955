#!/usr/bin/env python3
"""Turns a synthetic scenario folder into the "one block per applicant" shape.

Every applicant gets a block of its own (same place, district and zone schools as the block
it had), so blocks.csv and zones.csv grow to one row per applicant: the shape of a bureau that
records each family's address as its own point. Used by docs/performance.md:

    xuequ synth --preset choice10 --applicants 1000000 --out /tmp/c1m
    python3 benches/one_block_per_applicant.py /tmp/c1m /tmp/b1m
    xuequ run /tmp/b1m/scenario.toml --out /tmp/b1m-out --no-html
"""
import csv
import shutil
import sys
from pathlib import Path


def main(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in ("schools.csv", "policy.toml", "scenario.toml", "seat_locks.csv"):
        if (source / name).exists():
            shutil.copy(source / name, target / name)
    with open(source / "blocks.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        block_fields = reader.fieldnames
        blocks = {row["block_id"]: row for row in reader}
    zones: dict[str, list[tuple[str, str]]] = {}
    with open(source / "zones.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        zone_fields = reader.fieldnames
        for row in reader:
            zones.setdefault(row["block_id"], []).append((row["stage"], row["school_id"]))
    with (
        open(source / "students.csv", newline="", encoding="utf-8") as f,
        open(target / "students.csv", "w", newline="", encoding="utf-8") as students_out,
        open(target / "blocks.csv", "w", newline="", encoding="utf-8") as blocks_out,
        open(target / "zones.csv", "w", newline="", encoding="utf-8") as zones_out,
    ):
        reader = csv.DictReader(f)
        students = csv.DictWriter(students_out, reader.fieldnames, lineterminator="\n")
        students.writeheader()
        block_writer = csv.DictWriter(blocks_out, block_fields, lineterminator="\n")
        block_writer.writeheader()
        zone_writer = csv.writer(zones_out, lineterminator="\n")
        zone_writer.writerow(zone_fields)
        for n, row in enumerate(reader, start=1):
            home = blocks[row["block_id"]]
            own = f"H{n:08d}"
            block = dict(home, block_id=own, name=f"{home['name']}{n}", households=1)
            block_writer.writerow(block)
            for stage, school in zones.get(row["block_id"], []):
                zone_writer.writerow([own, stage, school])
            row["block_id"] = own
            students.writerow(row)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: one_block_per_applicant.py SOURCE_FOLDER TARGET_FOLDER")
    main(Path(sys.argv[1]), Path(sys.argv[2]))
