import pytest

from scaler.units import parse_duration, parse_size_mib


@pytest.mark.parametrize("text,seconds", [
    ("5s", 5.0), ("2m", 120.0), ("1h", 3600.0), ("1h30m", 5400.0), ("500ms", 0.5),
    ("7", 7.0), ("0.25", 0.25), ("1m30s", 90.0), ("1d", 86400.0),
])
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5x", "s", "5 s", "-3s", "1h-2m", "m5", "five"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("text,mib", [
    ("500", 500.0), ("512Mi", 512.0), ("16Gi", 16384.0), ("1G", 1024.0), ("2048Ki", 2.0),
    ("1.5Gi", 1536.0), ("0", 0.0),
])
def test_sizes(text, mib):
    assert parse_size_mib(text) == pytest.approx(mib)


@pytest.mark.parametrize("text", ["", "lots", "-5", "5Pi", "Mi"])
def test_bad_sizes(text):
    with pytest.raises(ValueError):
        parse_size_mib(text)
