"""Readers on the real files (both Databento encodings, LOBSTER counts) and on bad input."""

import pyarrow.compute as pc
import pytest
import zstandard

from data_prep.databento import read_databento
from data_prep.lobster import read_lobster
from data_prep.schema import EVENT_SCHEMA, DataFormatError
from data_prep.sources import expand_paths, read_events

from .conftest import DATA

ES_DBN = DATA / "databento/esh4-glbx-mdp3-20231225.mbo.dbn.zst"
ES_CSV = DATA / "databento/esh4-glbx-mdp3-20231225.mbo.csv.zst"
AAPL = DATA / "lobster/AAPL_2012-06-21_34200000_57600000_message_1.csv.zst"
AMZN = DATA / "lobster/AMZN_2012-06-21_34200000_57600000_message_1.csv.zst"


def counts(table, column):
    return {d["values"]: d["counts"] for d in pc.value_counts(table.column(column)).to_pylist()}


@pytest.fixture(scope="module")
def es():
    return read_databento(ES_DBN)


def test_both_databento_encodings_decode_identically(es):
    csv = read_databento(ES_CSV)  # pretty_px / pretty_ts encoding
    assert es.schema == EVENT_SCHEMA and es.equals(csv)
    assert es.num_rows == 68792 and int(pc.sum(es.column("is_snapshot")).as_py()) == 8725
    assert counts(es, "action") == {"A": 29216, "C": 17999, "M": 12233, "F": 6371, "T": 2973}
    assert set(es.column("instrument").to_pylist()) == {"ESH4"}
    assert str(es.column("date")[0]) == "2023-12-25"


def test_raw_fixed_point_csv_matches(tmp_path, es):
    import databento_dbn as dbn

    raw = zstandard.ZstdDecompressor().stream_reader(open(ES_DBN, "rb")).read()
    path = tmp_path / "es.mbo.csv"
    with open(path, "wb") as f:
        transcoder = dbn.Transcoder(f, dbn.Encoding.CSV, dbn.Compression.NONE, pretty_px=False, pretty_ts=False,
                                    map_symbols=True)
        transcoder.write(raw)
        transcoder.flush()
    assert read_databento(path).equals(es)


def test_lobster_counts_and_units():
    aapl = read_lobster(AAPL)
    live = aapl.filter(pc.invert(aapl.column("is_snapshot")))
    assert live.num_rows == 118497
    # types 1 / 2+3 / 4+5 of the LOBSTER ReadMe's table in data/README
    assert counts(live, "action") == {"A": 54818, "C": 252 + 28437, "F": 23658 + 11332}
    assert live.column("ts_recv")[0].as_py() == 1340285400004241176  # 09:30:00.004241176 EDT in UTC ns
    assert live.column("price")[0].as_py() == 585.33
    amzn = read_lobster(AMZN)
    assert amzn.filter(pc.invert(amzn.column("is_snapshot"))).num_rows == 57515
    snapshot = amzn.filter(amzn.column("is_snapshot"))
    assert snapshot.num_rows >= 1 and (snapshot.column("order_id").to_numpy() > 2**63).all()


def test_expand_paths_dirs_globs_and_pairs(tmp_path):
    found = expand_paths(DATA)
    names = {p.name for p in found}
    assert AAPL.name in names and ES_DBN.name in names and ES_CSV.name in names
    assert not any("_orderbook_" in n for n in names)  # companions, not sources
    assert expand_paths(str(DATA / "**/*.dbn.zst")) == [ES_DBN]
    assert expand_paths([AAPL, str(AAPL)]) == [AAPL]
    with pytest.raises(FileNotFoundError):
        expand_paths(tmp_path / "missing.dbn.zst")


def write_zst(path, text: str):
    path.write_bytes(zstandard.ZstdCompressor().compress(text.encode()))
    return path


@pytest.fixture(scope="module")
def es_csv_lines():
    return zstandard.ZstdDecompressor().stream_reader(open(ES_CSV, "rb")).read().decode().splitlines()


def edit(lines, row, field, value):
    header = lines[0].split(",")
    cells = lines[row + 1].split(",")
    cells[header.index(field)] = value
    return "\n".join([*lines[:row + 1], ",".join(cells), *lines[row + 2:200]]) + "\n"


@pytest.mark.parametrize("field,value,message", [
    ("action", "X", "row 150, field 'action'"),
    ("size", "0", "row 150, field 'size'"),
    ("size", "-3", "row 150, field 'size'"),
    ("price", "", "row 150, field 'price'"),
    ("ts_recv", "2023-12-24T00:00:00.000000000Z", "row 150, field 'ts_recv'"),
])
def test_bad_databento_values_name_file_row_field(tmp_path, es_csv_lines, field, value, message):
    path = write_zst(tmp_path / "bad.mbo.csv.zst", edit(es_csv_lines, 150, field, value))
    with pytest.raises(DataFormatError, match=message) as err:
        read_events(path)
    assert "bad.mbo.csv.zst" in str(err.value)


def test_truncated_empty_and_wrong_files(tmp_path, es_csv_lines):
    truncated = tmp_path / "cut.dbn.zst"
    truncated.write_bytes(ES_DBN.read_bytes()[:5000])
    with pytest.raises(DataFormatError, match="cut.dbn.zst"):
        read_events(truncated)
    with pytest.raises(DataFormatError, match="empty"):
        read_events(write_zst(tmp_path / "empty.mbo.csv.zst", ""))
    header = es_csv_lines[0].replace("order_id", "oid")
    with pytest.raises(DataFormatError, match="missing Databento MBO column.*order_id"):
        read_events(write_zst(tmp_path / "cols.mbo.csv.zst", "\n".join([header, *es_csv_lines[1:10]]) + "\n"))
    with pytest.raises(DataFormatError, match="unrecognized file"):
        read_events(tmp_path / "notes.txt")


def test_bad_lobster_rows(tmp_path):
    lines = zstandard.ZstdDecompressor().stream_reader(open(AMZN, "rb")).read().decode().splitlines()[:100]
    name = "AMZN_2012-06-21_34200000_57600000_message_1.csv"
    bad_type = list(lines)
    bad_type[42] = bad_type[42].split(",", 2)[0] + ",9," + bad_type[42].split(",", 2)[2]
    (tmp_path / name).write_text("\n".join(bad_type) + "\n")
    with pytest.raises(DataFormatError, match="row 42, field 'type'"):
        read_lobster(tmp_path / name, orderbook=False)
    backwards = list(lines)
    backwards[60] = "34000.0," + backwards[60].split(",", 1)[1]
    (tmp_path / name).write_text("\n".join(backwards) + "\n")
    with pytest.raises(DataFormatError, match="row 60, field 'ts_recv'"):
        read_lobster(tmp_path / name, orderbook=False)
    with pytest.raises(DataFormatError, match="not a LOBSTER file name"):
        read_lobster(tmp_path / "AMZN.csv")


def test_cancels_of_orders_placed_before_the_open_are_counted_not_errors():
    from data_prep.features import session_features, sessions, traded_volume

    events = sessions(read_lobster(AAPL))[0]
    _, c = session_features(events, traded_volume(events))
    assert c["cancel_of_unknown_order"] > 1000  # AAPL: orders resting since before 09:30
    assert c["model_events"] == 54818 + 252 + 28437
    assert c["prints"] == 23658 + 11332  # every execution (visible and hidden) feeds the mid
