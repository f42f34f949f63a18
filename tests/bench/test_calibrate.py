"""calibrate.py: the machine's speed figures that the benches store beside their results."""

from __future__ import annotations

from pathlib import Path

from tests.bench.calibrate import machine_speed


def test_every_figure_is_measured_and_the_file_work_stays_in_the_given_folder(tmp_path: Path) -> None:
    figures = machine_speed(str(tmp_path))
    assert set(figures) == {"python loop ms", "sha256 MiB/s", "thread round trip us", "create+fsync us"}
    assert all(value > 0 for value in figures.values()), figures
    assert list(tmp_path.iterdir()) == []  # its temporary folder is gone again
