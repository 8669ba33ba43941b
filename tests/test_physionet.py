from pathlib import Path

import numpy as np
import pytest

from tsdiff.data.physionet import PHYSIONET_VARIABLES, load_physionet2012, read_record, select_targets

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "physionet2012"


def _write_stay(folder: Path, rid: int, lines: list[str]):
    text = f"Time,Parameter,Value\n00:00,RecordID,{rid}\n00:00,Age,54\n00:00,Weight,-1\n" + "\n".join(lines)
    (folder / f"{rid}.txt").write_text(text + "\n")


def test_record_parsing_follows_the_reference(tmp_path):
    _write_stay(
        tmp_path,
        100001,
        [
            "00:07,HR,73",
            "00:37,HR,77",  # two in hour 0: the last one is kept
            "01:59,Temp,35.1",
            "47:30,pH,7.4",
            "48:00,HR,99",  # outside the 48 bins
            "05:00,Unknown,1.0",  # not one of the 35 variables
        ],
    )
    grid = read_record(tmp_path / "100001.txt")
    hr, temp, ph = (PHYSIONET_VARIABLES.index(v) for v in ("HR", "Temp", "pH"))
    assert grid.shape == (48, 35)
    assert grid[0, hr] == 77 and grid[1, temp] == 35.1 and grid[47, ph] == 7.4
    assert np.isnan(grid).sum() == 48 * 35 - 3


def test_bad_header_is_named(tmp_path):
    (tmp_path / "1.txt").write_text("a,b\n")
    with pytest.raises(ValueError, match="header"):
        read_record(tmp_path / "1.txt")


def test_bad_lines_backups_and_tiny_sets_are_named(tmp_path):
    _write_stay(tmp_path, 100002, ["00:07,HR,73", "xx:10,HR,77"])
    with pytest.raises(ValueError, match=r"100002.txt, line 6: cannot read the time or value of 'xx:10,HR,77'"):
        read_record(tmp_path / "100002.txt")
    _write_stay(tmp_path, 100003, ["00:07,HR,inf"])
    with pytest.raises(ValueError, match="line 5: HR is 'inf'; a measurement must be a finite number"):
        read_record(tmp_path / "100003.txt")
    folder = tmp_path / "set-a"
    folder.mkdir()
    for i in range(6):
        _write_stay(folder, 200000 + i, ["00:10,HR,70"])
    (folder / "200000.txt~").write_text((folder / "200000.txt").read_text())  # an editor's backup
    (folder / "200001 (copy).txt").write_text((folder / "200001.txt").read_text())
    assert len(load_physionet2012(tmp_path).ids) == 6  # each stay once
    for i in range(2, 6):
        (folder / f"{200000 + i}.txt").unlink()
    with pytest.raises(ValueError, match="2 stays with measurements are too few"):
        load_physionet2012(tmp_path)


def test_target_selection_is_numpys_legacy_choice():
    grid = np.full((4, 5), np.nan)
    grid.flat[[1, 3, 4, 8, 9, 12, 19]] = 1.0
    target = select_targets(grid, 0.5, np.random.RandomState(1))
    assert target.sum() == 3  # floor(0.5 * 7)
    expected = np.random.RandomState(1).choice([1, 3, 4, 8, 9, 12, 19], 3, replace=False)
    assert set(np.flatnonzero(target)) == set(expected)


def test_splits_on_a_small_set(tmp_path):
    folder = tmp_path / "set-a"
    folder.mkdir()
    for i in range(20):
        _write_stay(folder, 200000 + i, [f"{h:02d}:10,HR,{70 + h}" for h in range(0, 48, 3)])
    _write_stay(folder, 300000, [])  # no measurement at all: dropped, as the reference does
    s = load_physionet2012(tmp_path, missing_ratio=0.5, seed=1)
    assert s.values.shape == (20, 48, 35) and len(s.ids) == 20
    assert len(s.test) == 4 and len(s.train) == 14 and len(s.valid) == 2
    assert len(set(s.test) | set(s.train) | set(s.valid)) == 20
    assert (s.eval_mask.sum((1, 2)) == 8).all()  # half of 16 observations per stay
    assert not np.isnan(s.values[s.eval_mask]).any()
    assert np.isnan(s.inputs(s.test)[s.eval_mask[s.test]]).all()


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data/physionet2012 not present")
def test_real_physionet_matches_the_published_shape():
    s = load_physionet2012(SHARED, missing_ratio=0.1, seed=1)
    assert s.values.shape == (3997, 48, 35)  # three stays have none of the 35 variables
    assert 0.79 < np.isnan(s.values).mean() < 0.81  # "about 80% missing"
    n_obs = (~np.isnan(s.values)).sum((1, 2))
    assert (s.eval_mask.sum((1, 2)) == (n_obs * 0.1).astype(int)).all()
    assert (len(s.train), len(s.valid), len(s.test)) == (2797, 401, 799)
