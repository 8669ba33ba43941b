from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsdiff.data.aqi36 import load_aqi36

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "aqi36"


def _write(tmp_path, seed=0):
    idx = pd.date_range("2014-05-01 01:00", "2015-04-30 23:00", freq="h", name="datetime")
    rng = np.random.default_rng(seed)
    ground = pd.DataFrame(rng.uniform(10, 200, (len(idx), 3)), index=idx, columns=["001001", "001002", "001003"])
    ground = ground.mask(rng.random(ground.shape) < 0.1)
    missing = ground.mask(rng.random(ground.shape) < 0.15)
    ground.to_csv(tmp_path / "pm25_ground.txt")
    missing.to_csv(tmp_path / "pm25_missing.txt")
    return ground, missing


def test_protocol_on_a_generated_year(tmp_path):
    ground, missing = _write(tmp_path)
    d = load_aqi36(tmp_path)
    hours = {m: int((ground.index.month == m).sum()) for m in range(1, 13)}
    assert d.train.shape == (sum(hours[m] - 35 for m in (2, 4, 5, 7, 8, 10, 11)), 36, 3)
    assert d.valid.shape == (hours[1] - 35, 36, 3)
    assert d.hist_patterns.shape[0] == sum(hours[m] - 35 for m in (2, 5, 8, 11))
    assert d.test.shape[0] == sum(-(-hours[m] // 36) for m in (3, 6, 9, 12))
    # targets: present in ground, absent in missing; the overlap of each month's last window is not scored
    march = ground[ground.index.month == 3].to_numpy()
    g_last, x_last = d.test[20], d.test_inputs[20]  # March has 744 h: 20 full windows and a tail of 24 h
    np.testing.assert_array_equal(g_last, march[-36:])
    assert not d.test_targets[20, :12].any()
    np.testing.assert_array_equal(d.test_targets[20, 12:], ~np.isnan(g_last[12:]) & np.isnan(x_last[12:]))
    assert not np.isnan(d.test[d.test_targets]).any() and np.isnan(d.test_inputs[d.test_targets]).all()
    # the validation month (January, 744 h) cut and scored the same way
    january_g = ground[ground.index.month == 1].to_numpy()
    january_x = missing[missing.index.month == 1].to_numpy()
    assert d.valid_eval.shape == d.valid_inputs.shape == d.valid_targets.shape == (21, 36, 3)
    np.testing.assert_array_equal(d.valid_eval[0], january_g[:36])
    np.testing.assert_array_equal(d.valid_inputs[-1], january_x[-36:])
    assert not d.valid_targets[-1, :12].any()
    np.testing.assert_array_equal(d.valid_targets[0], ~np.isnan(january_g[:36]) & np.isnan(january_x[:36]))


def test_errors_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="pm25_ground"):
        load_aqi36(tmp_path)
    _write(tmp_path)
    with pytest.raises(ValueError, match="valid_month must be one of .*, got '1'"):
        load_aqi36(tmp_path, valid_month="1")
    ground, missing = _write(tmp_path)
    for frame in (ground, missing):  # half a year: months without a window
        frame.iloc[: len(frame) // 2].to_csv(tmp_path / ("pm25_ground.txt" if frame is ground else "pm25_missing.txt"))
    with pytest.raises(ValueError, match=r"months \[1, 2, 3, 4, 11, 12\] have fewer than 36 hours"):
        load_aqi36(tmp_path)
    text = (tmp_path / "pm25_ground.txt").read_text()
    (tmp_path / "pm25_ground.txt").write_text(text.replace("2014-05-02 03:00:00", "2014-05-0x 03:00:00", 1))
    with pytest.raises(ValueError, match=r"not dates, e.g. \['2014-05-0x 03:00:00'\]"):
        load_aqi36(tmp_path)
    (tmp_path / "pm25_ground.txt").write_text(text.replace("datetime,", "time,", 1))
    with pytest.raises(ValueError, match="no `datetime` column"):
        load_aqi36(tmp_path)


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data/aqi36 not present")
def test_real_aqi36_shapes():
    d = load_aqi36(SHARED)
    assert d.test.shape == (82, 36, 36) and d.train.shape[2] == 36
    assert int(d.test_targets.sum()) == 20434
    assert d.valid_eval.shape == (21, 36, 36) and int(d.valid_targets.sum()) > 2000  # January's evaluation mask
