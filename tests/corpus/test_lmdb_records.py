"""corpus.lmdb_records: PEER/TAPE LMDB splits written with the real lmdb package in torchdrug's layout are
read record by record; numpy values come back plain; a pickle that names any other global is refused (never
executed) as a BadRecord naming its key; missing and surplus keys are BadRecords; a broken split is an error
naming it. The `lmdb` corpus format reads them through the engine's record API."""

from __future__ import annotations

import os
import pickle

import lmdb
import numpy as np
import pytest

from biomatrix_plugin.corpus.lmdb_records import iter_lmdb, safe_loads, write_lmdb
from biomatrix_plugin.corpus.records import BadRecord, iter_records, parse_record
from biomatrix_plugin.errors import InputFileError


class _Evil:
    """Pickles as a call to os.system: loading it with pickle.loads would run a shell command."""

    def __reduce__(self):
        return (os.system, ("touch SHOULD_NOT_EXIST",))


def test_records_in_index_order_with_numpy_values_made_plain(tmp_path):
    records = [{"target": "MKV", "drug": "CCO", "affinity": np.array([7.5], dtype=np.float32)},
               {"primary_1": "MA", "primary_2": "MC", "interaction": np.int64(1)},
               {"x": np.array([[1, 2], [3, 4]]), "s": {1, 2}, "t": (np.float64(0.5),)}]
    for protocol in (2, 4, 5):
        path = tmp_path / f"split_p{protocol}.lmdb"
        write_lmdb(path, records, protocol=protocol)
        for given in (path, path / "data.mdb"):  # the folder or its data.mdb (what a path pattern matches)
            got = list(iter_lmdb(str(given)))
            assert got[0] == {"target": "MKV", "drug": "CCO", "affinity": 7.5}
            assert type(got[0]["affinity"]) is float and type(got[1]["interaction"]) is int
            assert got[2] == {"x": [[1, 2], [3, 4]], "s": {1, 2}, "t": (0.5,)}


def test_a_refused_global_is_a_bad_record_and_never_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.lmdb"
    write_lmdb(path, [{"a": 1}, pickle.dumps(_Evil(), protocol=2), pickle.dumps(_Evil(), protocol=4),
                      b"cbuiltins\neval\n(S'1+1'\ntR.", pickle.dumps([1, 2]), b"\x80\x04garbage"])
    got = list(iter_lmdb(str(path)))
    assert got[0] == {"a": 1}
    assert all(isinstance(r, BadRecord) for r in got[1:])
    assert "LMDB record '1': refused global posix.system" in got[1].reason or "os.system" in got[1].reason
    assert "LMDB record '2': refused global" in got[2].reason
    assert "LMDB record '3': refused global builtins.eval" in got[3].reason
    assert got[4].reason == "LMDB record '4': a pickled list, expected a dict"
    assert got[5].reason.startswith("LMDB record '5': ")
    assert not (tmp_path / "SHOULD_NOT_EXIST").exists()


def test_codecs_encode_is_latin1_only():
    assert safe_loads(pickle.dumps({"b": b"\x00\xff"}, protocol=2)) == {"b": b"\x00\xff"}
    bomb = b"c_codecs\nencode\n(S'x'\nS'zlib'\ntR."
    with pytest.raises(pickle.UnpicklingError, match="refused _codecs.encode with encoding 'zlib'"):
        safe_loads(bomb)


def test_missing_and_surplus_keys_are_not_dropped_silently(tmp_path):
    path = tmp_path / "gaps.lmdb"
    write_lmdb(path, [{"a": 0}, None, {"a": 2}])  # key "1" missing
    env = lmdb.open(str(path), lock=False)
    with env.begin(write=True) as txn:
        txn.put(b"3", pickle.dumps({"a": 3}))  # beyond num_examples=3
        txn.put(b"__keys__", pickle.dumps([]))
    env.close()
    got = list(iter_lmdb(str(path)))
    assert got[0] == {"a": 0} and got[2] == {"a": 2}
    assert got[1].reason == "LMDB record '1': key missing (num_examples promises it)"
    extra = sorted(r.reason.split("'")[1] for r in got[3:])
    assert extra == ["3", "__keys__"] and all("not a record index below num_examples=3" in r.reason
                                              for r in got[3:])


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "no such LMDB environment"),
    (lambda p: p.mkdir(), "folder without data.mdb"),
    (lambda p: (p.mkdir(), (p / "data.mdb").write_bytes(b"not lmdb" * 100)), "not a readable LMDB environment"),
])
def test_a_split_that_cannot_be_read_is_an_error_naming_it(tmp_path, make, message):
    path = tmp_path / "bad.lmdb"
    make(path)
    with pytest.raises(InputFileError, match=message) as info:
        list(iter_lmdb(str(path)))
    assert str(path) in str(info.value)


def test_num_examples_missing_or_invalid(tmp_path):
    path = tmp_path / "nocount.lmdb"
    env = lmdb.open(str(path), lock=False)
    with env.begin(write=True) as txn:
        txn.put(b"0", pickle.dumps({"a": 1}))
    env.close()
    with pytest.raises(InputFileError, match="no 'num_examples' key"):
        list(iter_lmdb(str(path)))
    write_lmdb(tmp_path / "neg.lmdb", [], num_examples=-1)
    with pytest.raises(InputFileError, match="'num_examples' is -1"):
        list(iter_lmdb(str(tmp_path / "neg.lmdb")))


def test_the_lmdb_format_through_the_record_api(tmp_path):
    path = tmp_path / "s.lmdb"
    write_lmdb(path, [{"target": "MK", "affinity": np.array([5.0])}, b"cos\ngetcwd\n)R."])
    recs = list(iter_records([str(path / "data.mdb")], "lmdb"))
    assert [r.position for r in recs] == [0, 1]
    assert parse_record(recs[0].raw, "lmdb") == {"target": "MK", "affinity": 5.0}
    from biomatrix_plugin.corpus.records import RecordRejected

    with pytest.raises(RecordRejected, match="LMDB record '1': refused global os.getcwd"):
        parse_record(recs[1].raw, "lmdb")
