"""Readers (``data_prep.databento``, ``data_prep.lobster``, ``data_prep.sources``) on the bundled real files, the
slices in ``tests/data`` (see its ATTRIBUTION.md) and bad input.

Expected values come from the data READMEs (counts) or are recomputed here from the raw text independently of
the readers (units, times, the opening book).
"""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import databento_dbn as dbn
import numpy as np
import pyarrow.compute as pc
import pytest
import zstandard

from data_prep.databento import read_databento
from data_prep.lobster import read_lobster
from data_prep.schema import EVENT_SCHEMA, F_SNAPSHOT, DataFormatError
from data_prep.sources import expand_paths, read_events

from .conftest import DATA, TEST_DATA

ES_DBN = DATA / "databento/esh4-glbx-mdp3-20231225.mbo.dbn.zst"
ES_CSV = DATA / "databento/esh4-glbx-mdp3-20231225.mbo.csv.zst"
AAPL = DATA / "lobster/AAPL_2012-06-21_34200000_57600000_message_1.csv.zst"
AMZN = DATA / "lobster/AMZN_2012-06-21_34200000_57600000_message_1.csv.zst"
ES_SLICE_DBN = TEST_DATA / "databento/esh4-glbx-mdp3-20231225-slice.mbo.dbn"
ES_SLICE_CSV = TEST_DATA / "databento/esh4-glbx-mdp3-20231225-slice.mbo.csv.zst"
ES_SLICE_START = 8675  # first record of the slices in the full file
AMZN_SLICE = TEST_DATA / "lobster/AMZN_2012-06-21_34200000_34260000_message_1.csv"
NEW_YORK = ZoneInfo("America/New_York")


def text(path) -> str:
    raw = path.read_bytes()
    return (zstandard.ZstdDecompressor().decompress(raw, max_output_size=1 << 30) if path.suffix == ".zst"
            else raw).decode()


def write(path, lines):
    data = ("\n".join(lines) + "\n").encode() if lines else b""
    path.write_bytes(zstandard.ZstdCompressor().compress(data) if path.suffix == ".zst" else data)
    return path


def counts(table, column) -> dict:
    return {d["values"]: d["counts"] for d in pc.value_counts(table.column(column)).to_pylist()}


def live(table):
    return table.filter(pc.invert(table.column("is_snapshot")))


@pytest.fixture(scope="module")
def es():
    return read_databento(ES_DBN)


@pytest.fixture(scope="module")
def es_slice_lines():
    """Header + 1,100 rows of the raw fixed-point CSV slice."""
    return text(ES_SLICE_CSV).splitlines()


@pytest.fixture(scope="module")
def aapl():
    return read_lobster(AAPL)


# --- Databento --------------------------------------------------------------------------------------------


def test_dbn_and_pretty_csv_decode_to_identical_tables(es):
    csv = read_databento(ES_CSV)
    assert es.schema == EVENT_SCHEMA and csv.equals(es)
    assert es.num_rows == 68792
    assert counts(es, "action") == {"A": 29216, "C": 17999, "M": 12233, "F": 6371, "T": 2973}
    snapshot = es.column("is_snapshot").to_numpy(zero_copy_only=False)
    assert snapshot.sum() == 8725
    assert np.array_equal(snapshot, es.column("flags").to_numpy() & F_SNAPSHOT > 0)
    assert np.array_equal(es.column("source_row").to_numpy(), np.arange(es.num_rows))


def test_databento_values_match_the_csv_text(es):
    """Units against an independent parse of the pretty CSV: ISO times → UTC ns, decimal prices, raw fields."""
    lines = text(ES_CSV).splitlines()
    header = lines[0].split(",")
    action = es.column("action").to_numpy(zero_copy_only=False)
    rows = sorted({*range(0, es.num_rows, 997), *np.flatnonzero(action == "T")[:20],
                   *np.flatnonzero(action == "F")[:20], es.num_rows - 1})
    for row in rows:
        cell = dict(zip(header, lines[row + 1].split(",")))
        got = es.slice(row, 1).to_pylist()[0]
        ts_recv = int(np.datetime64(cell["ts_recv"].rstrip("Z"), "ns").astype(np.int64))
        assert got["ts_recv"] == ts_recv
        assert got["ts_event"] == int(np.datetime64(cell["ts_event"].rstrip("Z"), "ns").astype(np.int64))
        assert got["price"] == float(Decimal(cell["price"]))
        assert (got["action"], got["side"], got["instrument"]) == (cell["action"], cell["side"], cell["symbol"])
        assert [got[k] for k in ("size", "order_id", "flags")] == [int(cell[k]) for k in ("size", "order_id", "flags")]
        # date: the UTC date of ts_recv (snapshot adds have ts_event on 2023-12-24, ts_recv 2023-12-25 00:00)
        assert got["date"] == dt.datetime.fromtimestamp(ts_recv // 10**9, dt.timezone.utc).date()


def test_uncompressed_dbn_and_raw_fixed_point_csv_slices(es):
    """DBN v3 without zstd and Databento CSV with raw 1e-9 prices / integer ns decode like the full file."""
    expected = es.slice(ES_SLICE_START, 1100).drop_columns(["source_row"])
    for path in (ES_SLICE_DBN, ES_SLICE_CSV):
        table = read_databento(path)
        assert table.drop_columns(["source_row"]).equals(expected), path.name
        assert np.array_equal(table.column("source_row").to_numpy(), np.arange(1100))


def library_records(*specs):
    """MBO records built with databento-dbn after the slice's last event (ts 2023-12-25 23:00:00.110785588)."""
    ts = 1703545200110785588
    return b"".join(bytes(dbn.MBOMsg(publisher_id=1, instrument_id=17077, ts_event=ts + i, ts_recv=ts + i,
                                     order_id=order_id, price=price, size=size, action=action, side=side, flags=128))
                    for i, (action, side, price, size, order_id) in enumerate(specs))


def transcode(dbn_bytes, path, pretty):
    with open(path, "wb") as f:
        transcoder = dbn.Transcoder(f, dbn.Encoding.CSV, dbn.Compression.NONE, pretty_px=pretty, pretty_ts=pretty,
                                    map_symbols=True)
        transcoder.write(dbn_bytes)
        transcoder.flush()
    return path


def test_undefined_prices_and_clear_book_rows_in_every_encoding(tmp_path):
    """UNDEF_PRICE → NaN on trades/fills and on R/N rows (kept, never dropped), alike in DBN, raw and pretty CSV."""
    extra = library_records((dbn.Action.TRADE, dbn.Side.NONE, dbn.UNDEF_PRICE, 1, 0),
                            (dbn.Action.FILL, dbn.Side.BID, dbn.UNDEF_PRICE, 1, 6412776709575),
                            (dbn.Action.CLEAR, dbn.Side.NONE, dbn.UNDEF_PRICE, 0, 0),
                            (dbn.Action.NONE, dbn.Side.NONE, dbn.UNDEF_PRICE, 0, 0))
    data = ES_SLICE_DBN.read_bytes() + extra
    (tmp_path / "x.mbo.dbn").write_bytes(data)
    tables = [read_databento(tmp_path / "x.mbo.dbn"), read_databento(transcode(data, tmp_path / "raw.mbo.csv", False)),
              read_databento(transcode(data, tmp_path / "pretty.mbo.csv", True))]
    for table in tables:
        assert table.drop_columns(["price"]).equals(tables[0].drop_columns(["price"]))  # Arrow: NaN != NaN
        assert np.array_equal(table.column("price").to_numpy(), tables[0].column("price").to_numpy(), equal_nan=True)
        tail = table.slice(1100).to_pydict()
        assert tail["action"] == ["T", "F", "R", "N"] and tail["side"] == ["N", "B", "N", "N"]
        assert np.isnan(tail["price"]).all()


@pytest.mark.parametrize("action", [dbn.Action.ADD, dbn.Action.CANCEL])
def test_undefined_price_on_an_add_or_cancel_names_the_row(tmp_path, action):
    path = tmp_path / "x.mbo.dbn"
    path.write_bytes(ES_SLICE_DBN.read_bytes() + library_records((action, dbn.Side.BID, dbn.UNDEF_PRICE, 1, 7)))
    with pytest.raises(DataFormatError, match=r"x\.mbo\.dbn: row 1100, field 'price'"):
        read_databento(path)


def test_instrument_falls_back_to_instrument_id(tmp_path, es_slice_lines):
    without_symbol = [line.rsplit(",", 1)[0] for line in es_slice_lines]
    table = read_databento(write(tmp_path / "x.mbo.csv", without_symbol))
    assert set(table.column("instrument").to_pylist()) == {"17077"}


def test_each_row_gets_the_utc_date_of_its_ts_recv(tmp_path, es_slice_lines):
    header, rows = es_slice_lines[0], es_slice_lines[1:]
    day = 86_400 * 10**9
    shifted = [",".join([str(int(c[0]) + day), str(int(c[1]) + day), *c[2:]])
               for c in (line.split(",") for line in rows[600:])]
    table = read_databento(write(tmp_path / "two_days.mbo.csv", [header, *rows[:600], *shifted]))
    assert counts(table, "date") == {dt.date(2023, 12, 25): 600, dt.date(2023, 12, 26): 500}


# --- LOBSTER ----------------------------------------------------------------------------------------------


def lobster_messages(path) -> np.ndarray:
    """(N, 6) float64 message columns parsed from the text, independently of the reader."""
    return np.loadtxt(text(path).splitlines(), delimiter=",", dtype=np.float64)


def test_lobster_types_sides_prices_sizes_follow_the_mapping(aapl):
    messages = lobster_messages(AAPL)
    kind, order_id, size, price, direction = (messages[:, i] for i in range(1, 6))
    events = live(aapl)
    assert events.num_rows == 118497
    action = np.array(events.column("action").to_pylist())
    assert np.array_equal(action, np.array(["", "A", "C", "C", "F", "F"])[kind.astype(int)])
    assert np.array_equal(np.array(events.column("side").to_pylist()), np.where(direction == 1, "B", "A"))
    assert np.array_equal(events.column("price").to_numpy(), price / 10_000)
    assert np.array_equal(events.column("size").to_numpy(), size)
    assert np.array_equal(events.column("order_id").to_numpy(), order_id.astype(np.uint64))
    # data/README: types 1/2/3/4/5 = 54818/252/28437/23658/11332, buy/sell 57004/61493, prices 577.45–588.22
    assert counts(events, "action") == {"A": 54818, "C": 252 + 28437, "F": 23658 + 11332}
    assert int(((action == "F") & (events.column("order_id").to_numpy() == 0)).sum()) == 11332  # hidden
    assert counts(events, "side") == {"B": 57004, "A": 61493}
    assert (pc.min(events.column("price")).as_py(), pc.max(events.column("price")).as_py()) == (577.45, 588.22)
    assert set(events.column("instrument").to_pylist()) == {"AAPL"}
    assert set(events.column("date").to_pylist()) == {dt.date(2012, 6, 21)}


def test_lobster_times_are_new_york_wall_clock_in_utc_ns(aapl):
    seconds = [line.split(",", 1)[0] for line in text(AAPL).splitlines()]
    midnight = dt.datetime(2012, 6, 21, tzinfo=NEW_YORK)
    events = live(aapl)
    for row in (0, 1, 5000, 118496):
        whole, frac = seconds[row].split(".")
        local = midnight + dt.timedelta(seconds=int(whole))
        expected = int(local.timestamp()) * 10**9 + int(frac.ljust(9, "0"))
        assert events.column("ts_recv")[row].as_py() == expected
    assert events.column("ts_recv")[0].as_py() == 1340285400004241176  # 09:30:00.004241176 EDT = 13:30 UTC
    assert events.column("ts_event").equals(events.column("ts_recv"))


def test_amzn_counts():
    events = live(read_lobster(AMZN))
    assert events.num_rows == 57515
    # data/README: types 1/2/3/4/5 = 27845/16/18235/8974/2445
    assert counts(events, "action") == {"A": 27845, "C": 16 + 18235, "F": 8974 + 2445}
    hidden = pc.and_(pc.equal(events.column("action"), "F"), pc.equal(events.column("order_id"), 0))
    assert pc.sum(hidden).as_py() == 2445


@pytest.mark.parametrize("message", [AAPL, AMZN, AMZN_SLICE])
def test_opening_book_is_orderbook_row_0_with_message_0_undone(message):
    """Applying message 0 to the snapshot orders must give orderbook row 0 (the book after message 0)."""
    events = read_lobster(message)
    snapshot = events.filter(events.column("is_snapshot")).to_pydict()
    first = lobster_messages(message)[0]
    book = {"B": {}, "A": {}}
    for side, price, size in zip(snapshot["side"], snapshot["price"], snapshot["size"]):
        book[side][round(price * 10_000)] = book[side].get(round(price * 10_000), 0) + size
    kind, size, price, side = int(first[1]), int(first[3]), int(first[4]), "B" if first[5] == 1 else "A"
    if kind in (1, 2, 3, 4):  # 5 (hidden execution) does not change the visible book
        book[side][price] = book[side].get(price, 0) + (size if kind == 1 else -size)
    ask_price, ask_size, bid_price, bid_size = map(int, text(message.with_name(
        message.name.replace("_message_", "_orderbook_"))).split("\n", 1)[0].split(","))
    best_ask, best_bid = min(p for p, s in book["A"].items() if s), max(p for p, s in book["B"].items() if s)
    assert (best_ask, book["A"][best_ask], best_bid, book["B"][best_bid]) == (ask_price, ask_size, bid_price, bid_size)

    n = len(snapshot["side"])
    assert events.slice(0, n).equals(events.filter(events.column("is_snapshot")))  # snapshot rows come first
    assert set(snapshot["action"]) == {"A"} and set(snapshot["flags"]) == {F_SNAPSHOT}
    assert set(snapshot["ts_recv"]) == {events.column("ts_recv")[n].as_py()}  # the first message's time
    ids = np.array(snapshot["order_id"], dtype=np.uint64)
    real = live(events).column("order_id").to_numpy()
    assert len(set(ids.tolist())) == n and ids.min() > real.max()  # synthetic ids never collide with real ones
    assert (np.array(snapshot["source_row"]) < 0).all()


def test_orderbook_pairing_and_uncompressed_slice():
    full = read_lobster(AMZN)
    paired = read_lobster(AMZN_SLICE)  # orderbook found next to it by name
    assert paired.equals(full.slice(0, paired.num_rows))  # the slice is the head of the file (2 snapshot rows)
    explicit = read_lobster(AMZN_SLICE, orderbook=AMZN_SLICE.with_name(AMZN_SLICE.name.replace("message", "orderbook")))
    assert explicit.equals(paired)
    bare = read_lobster(AMZN_SLICE, orderbook=False)
    assert bare.equals(live(paired)) and bare.num_rows == 382


def with_row(lines, row, cells):
    return [*lines[:row], ",".join(cells), *lines[row + 1:]]


def test_cross_trade_and_halt_rows(tmp_path):
    lines = text(AMZN_SLICE).splitlines()
    time = lines[100].split(",")[0]
    lines = with_row(lines, 100, [time, "6", "0", "300", "2238200", "1"])  # cross trade
    lines = with_row(lines, 101, [time, "7", "0", "0", "-1", "-1"])  # trading halt
    events = read_lobster(write(tmp_path / AMZN_SLICE.name, lines), orderbook=False).slice(100, 2).to_pydict()
    assert events["action"] == ["T", "N"] and events["side"] == ["N", "N"]
    assert (events["price"][0], events["size"]) == (223.82, [300, 0])


def test_halt_has_no_price(tmp_path):
    lines = text(AMZN_SLICE).splitlines()
    lines = with_row(lines, 101, [lines[101].split(",")[0], "7", "0", "0", "-1", "-1"])
    events = read_lobster(write(tmp_path / AMZN_SLICE.name, lines), orderbook=False)
    assert np.isnan(events.column("price")[101].as_py())


# --- sources ----------------------------------------------------------------------------------------------


def test_expand_paths_directories_globs_lists():
    assert expand_paths(DATA) == sorted([AAPL, AMZN, ES_CSV, ES_DBN])  # no orderbook, README or ReadMe.txt
    assert expand_paths(TEST_DATA) == sorted([AMZN_SLICE, ES_SLICE_CSV, ES_SLICE_DBN])
    assert expand_paths(str(DATA / "**" / "*.dbn*")) == [ES_DBN]
    assert expand_paths(str(DATA.parent / "**" / "AMZN_*_message_1.csv*")) == sorted([AMZN, AMZN_SLICE])
    assert expand_paths([str(AMZN), AMZN, DATA / "lobster"]) == sorted([AAPL, AMZN])
    with pytest.raises(FileNotFoundError):
        expand_paths(DATA / "missing.dbn.zst")


def test_orderbook_files_stand_for_their_message_file(tmp_path):
    orderbook = AMZN_SLICE.with_name(AMZN_SLICE.name.replace("_message_", "_orderbook_"))
    assert expand_paths(orderbook) == [AMZN_SLICE]
    with pytest.raises(DataFormatError, match="an orderbook file"):
        read_events(orderbook)
    lonely = tmp_path / orderbook.name
    lonely.write_bytes(orderbook.read_bytes())
    with pytest.raises(FileNotFoundError, match="without its message file"):
        expand_paths(lonely)


def test_directories_list_only_recognized_csv(tmp_path, es_slice_lines):
    write(tmp_path / "notes.csv", ["a,b", "1,2"])
    databento = write(tmp_path / "es.csv.zst", es_slice_lines)  # no .mbo in the name: told by its header
    assert expand_paths(tmp_path) == [databento]
    assert read_events(databento).equals(read_databento(ES_SLICE_CSV))


def test_read_events_dispatches_by_name(es):
    assert read_events(ES_DBN).equals(es)
    assert read_events(ES_SLICE_CSV).equals(read_databento(ES_SLICE_CSV))
    assert read_events(AMZN_SLICE).equals(read_lobster(AMZN_SLICE))
    with pytest.raises(DataFormatError, match="README.md: unrecognized file"):
        read_events(DATA / "README.md")


# --- bad input: Databento ---------------------------------------------------------------------------------


def edited(lines, row, field, value):
    """The CSV lines with one field of data row ``row`` (0-based, header excluded) replaced."""
    header = lines[0].split(",")
    cells = lines[row + 1].split(",")
    cells[header.index(field)] = value
    return with_row(lines, row + 1, cells)


def first_row(lines, action, start):
    header = lines[0].split(",")
    return next(i for i in range(start, len(lines) - 1) if lines[i + 1].split(",")[header.index("action")] == action)


@pytest.mark.parametrize("source", [ES_DBN, ES_CSV, AMZN])
def test_truncated_zstd_names_the_file(tmp_path, source):
    (tmp_path / source.name).write_bytes(source.read_bytes()[:300_000])
    with pytest.raises(DataFormatError, match=rf"{source.name}: corrupt or truncated zstd"):
        read_events(tmp_path / source.name)


def test_dbn_cut_inside_a_record_is_an_error(tmp_path):
    (tmp_path / "cut.mbo.dbn").write_bytes(ES_SLICE_DBN.read_bytes()[:-10])
    with pytest.raises(DataFormatError, match="cut.mbo.dbn"):
        read_databento(tmp_path / "cut.mbo.dbn")


@pytest.mark.parametrize("name,data", [("empty.mbo.csv", b""), ("empty.mbo.dbn", b""), ("empty.mbo.dbn.zst", b""),
                                       ("empty.mbo.csv.zst", zstandard.ZstdCompressor().compress(b""))])
def test_empty_files(tmp_path, name, data):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(DataFormatError, match=rf"{name}: .*empty"):
        read_events(tmp_path / name)


def test_header_only_csv_says_no_records(tmp_path, es_slice_lines):
    with pytest.raises(DataFormatError, match="no records"):
        read_databento(write(tmp_path / "x.mbo.csv", es_slice_lines[:1]))


@pytest.mark.parametrize("field", ["ts_recv", "ts_event", "action", "side", "price", "size", "order_id", "flags"])
def test_missing_column_is_named(tmp_path, es_slice_lines, field):
    lines = [line.replace(field, "renamed", 1) if i == 0 else line for i, line in enumerate(es_slice_lines[:50])]
    with pytest.raises(DataFormatError, match=rf"x\.mbo\.csv, field '{field}': missing Databento MBO column"):
        read_databento(write(tmp_path / "x.mbo.csv", lines))


@pytest.mark.parametrize("field,value,action", [
    ("action", "X", "A"), ("action", "", "C"), ("side", "Q", "A"),
    ("size", "0", "A"), ("size", "-3", "A"), ("size", "0", "C"),
    ("price", "9223372036854775807", "A"), ("price", "9223372036854775807", "M"),
])
def test_bad_value_names_row_and_field(tmp_path, es_slice_lines, field, value, action):
    row = first_row(es_slice_lines, action, 700)
    path = write(tmp_path / "bad.mbo.csv.zst", edited(es_slice_lines, row, field, value))
    with pytest.raises(DataFormatError, match=rf"bad\.mbo\.csv\.zst: row {row}, field '{field}'"):
        read_events(path)


def test_time_going_backwards_names_row(tmp_path, es_slice_lines):
    earlier = str(int(es_slice_lines[700].split(",")[0]) - 1)
    path = write(tmp_path / "bad.mbo.csv", edited(es_slice_lines, 700, "ts_recv", earlier))
    with pytest.raises(DataFormatError, match=r"row 700, field 'ts_recv': time goes backwards"):
        read_events(path)


@pytest.mark.parametrize("field,value", [("size", "abc"), ("size", ""), ("order_id", ""), ("flags", "300")])
def test_unparsable_value_names_row_and_field(tmp_path, es_slice_lines, field, value):
    path = write(tmp_path / "bad.mbo.csv", edited(es_slice_lines, 700, field, value))
    with pytest.raises(DataFormatError, match=rf"bad\.mbo\.csv: row 700, field '{field}'"):
        read_events(path)


# --- bad input: LOBSTER -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def amzn_lines():
    return text(AMZN_SLICE).splitlines()


def replaced(lines, row, column, value):
    cells = lines[row].split(",")
    cells[column] = value
    return with_row(lines, row, cells)


@pytest.mark.parametrize("column,value,field", [(1, "9", "type"), (1, "0", "type"), (5, "0", "direction"),
                                                (0, "34000.5", "ts_recv")])
def test_bad_lobster_row_names_row_and_field(tmp_path, amzn_lines, column, value, field):
    path = write(tmp_path / AMZN_SLICE.name, replaced(amzn_lines, 42, column, value))
    with pytest.raises(DataFormatError, match=rf"{AMZN_SLICE.name}: row 42, field '{field}'"):
        read_lobster(path, orderbook=False)


def test_lobster_add_without_shares_names_row(tmp_path, amzn_lines):
    row = next(i for i in range(40, len(amzn_lines)) if amzn_lines[i].split(",")[1] == "1")
    path = write(tmp_path / AMZN_SLICE.name, replaced(amzn_lines, row, 3, "0"))
    with pytest.raises(DataFormatError, match=rf"row {row}, field 'size'"):
        read_lobster(path, orderbook=False)


def test_bad_lobster_files(tmp_path, amzn_lines):
    with pytest.raises(DataFormatError, match="not a LOBSTER file name"):
        read_lobster(write(tmp_path / "AMZN_message.csv", amzn_lines))
    with pytest.raises(DataFormatError, match="file is empty"):
        read_lobster(write(tmp_path / AMZN_SLICE.name, []))
    five_columns = [line.rsplit(",", 1)[0] for line in amzn_lines]
    with pytest.raises(DataFormatError, match=rf"{AMZN_SLICE.name}: .*Expected 6 columns, got 5"):
        read_lobster(write(tmp_path / AMZN_SLICE.name, five_columns))
    not_zstd = write(tmp_path / AMZN_SLICE.name, amzn_lines).rename(tmp_path / f"{AMZN_SLICE.name}.zst")
    with pytest.raises(DataFormatError, match=rf"{AMZN_SLICE.name}.zst: corrupt or truncated zstd"):
        read_lobster(not_zstd, orderbook=False)


def test_negative_lobster_order_id_is_an_error(tmp_path, amzn_lines):
    path = write(tmp_path / AMZN_SLICE.name, replaced(amzn_lines, 42, 2, "-5"))
    with pytest.raises(DataFormatError, match="row 42, field 'order_id'"):
        read_lobster(path, orderbook=False)


def test_unparsable_lobster_value_names_row(tmp_path, amzn_lines):
    path = write(tmp_path / AMZN_SLICE.name, replaced(amzn_lines, 42, 3, "abc"))
    with pytest.raises(DataFormatError, match="row 42, field 'size'"):
        read_lobster(path, orderbook=False)
