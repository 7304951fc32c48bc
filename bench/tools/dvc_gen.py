#!/usr/bin/env python3
"""Registry-like records for the loader benchmark (bench/loader.sh), standard library only.

    dvc_gen.py N [--seed S] [--dup-every K] [--stats FILE]

Writes N lines "soDangKy<TAB>record" on stdout, for `kcat -P -K '\\t'`: each record is one
flat JSON object with the 29 fields the crawler sends (tasks/lib/dvc_record.c), compact
UTF-8 (Vietnamese text as raw bytes), about 1 KB. The values come from the portal fixture's
generator (tests/fixtures/dvc_data.py): a pool of its records is flattened exactly as the
crawler does, then record i takes pool[i % POOL] with its own idThuoc, soDangKy and
lastModificationTime (timestamps with a +07:00 offset and 0 to 7 fractional digits, as
.NET writes them). Every K-th record (--dup-every, default 10; 0: none) is a newer version
of an earlier record (same soDangKy), so pharma_upsert has versions to deduplicate:
N - N/K distinct keys. --stats writes {"records", "keys", "value_bytes", "line_bytes"} to FILE
(value_bytes: the JSON records alone, what a Kafka message carries).

Fast by construction (string templates, no json.dumps per record): about 1 s per 100,000
records.
"""

import json
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tests", "fixtures"))
import dvc_data  # noqa: E402

POOL = 1000
TIMES = 997  # a prime, so times and pool records do not repeat in step


def flat(it):
    """The crawler's 29-field record of a portal item (dvc_record_flatten's rules)."""
    def g(obj, key):
        o = it.get(obj)
        return o.get(key) if o else None
    addr, country = g("congTySanXuat", "diaChiSanXuat"), g("congTySanXuat", "nuocSanXuat")
    full = None if addr is None else addr if not country or country in addr else addr + ", " + country
    return {
        "idThuoc": it["id"], "soDangKy": it["soDangKy"], "soDangKyCu": it["soDangKyCu"],
        "tenThuoc": it["tenThuoc"], "phanLoaiThuocEnum": it["phanLoaiThuocEnum"],
        "congTyDangKyId": it["congTyDangKyId"], "congTySanXuatId": it["congTySanXuatId"],
        "creationTime": it["creationTime"], "lastModificationTime": it["lastModificationTime"],
        "tenCongTyDangKy": g("congTyDangKy", "tenCongTyDangKy"),
        "diaChiDangKy": g("congTyDangKy", "diaChiDangKy"),
        "nuocDangKy": g("congTyDangKy", "nuocDangKy"),
        "tenCongTySanXuat": g("congTySanXuat", "tenCongTySanXuat"),
        "diaChiSanXuat": addr, "nuocSanXuat": country, "fullAddress": full,
        "dotCap": g("thongTinDangKyThuoc", "dotCap"),
        "ngayCapSoDangKy": g("thongTinDangKyThuoc", "ngayCapSoDangKy"),
        "ngayHetHanSoDangKy": g("thongTinDangKyThuoc", "ngayHetHanSoDangKy"),
        "ngayGiaHanSoDangKy": g("thongTinDangKyThuoc", "ngayGiaHanSoDangKy"),
        "soQuyetDinh": g("thongTinDangKyThuoc", "soQuyetDinh"),
        "thongTinRutSoDangKy": g("thongTinRutSoDangKy", "urlCongVanRutSoDangKy"),
        "dangBaoChe": g("thongTinThuocCoBan", "dangBaoChe"),
        "dongGoi": g("thongTinThuocCoBan", "dongGoi"),
        "hamLuong": g("thongTinThuocCoBan", "hamLuong"),
        "hoatChatChinh": g("thongTinThuocCoBan", "hoatChatChinh"),
        "tieuChuan": g("thongTinThuocCoBan", "tieuChuan"),
        "tieuChuanId": g("thongTinThuocCoBan", "tieuChuanId"),
        "tuoiTho": g("thongTinThuocCoBan", "tuoiTho"),
    }


def dump(v):
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def template(rec):
    """(middle, tail): the record's JSON around idThuoc, soDangKy and lastModificationTime."""
    keys = list(rec)
    i_lm = keys.index("lastModificationTime")
    middle = ",".join("%s:%s" % (dump(k), dump(rec[k])) for k in keys[2:i_lm])
    tail = ",".join("%s:%s" % (dump(k), dump(rec[k])) for k in keys[i_lm + 1:])
    return middle, tail


def main():
    args = sys.argv[1:]
    n, seed, dup_every, stats = None, 1, 10, None
    while args:
        a = args.pop(0)
        if a == "--seed" and args:
            seed = int(args.pop(0))
        elif a == "--dup-every" and args:
            dup_every = int(args.pop(0))
        elif a == "--stats" and args:
            stats = args.pop(0)
        elif n is None and a.isdigit():
            n = int(a)
        else:
            print(__doc__, file=sys.stderr)
            return 2
    if n is None:
        print(__doc__, file=sys.stderr)
        return 2
    pool = [template(flat(dvc_data.make_record(seed, i)[0])) for i in range(POOL)]
    rng = random.Random("bench:%d" % seed)
    times = [dvc_data.ticks_to_vn(dvc_data.rand_ticks(rng, dvc_data.OLDEST, dvc_data.NEWEST))
             for _ in range(TIMES)]
    prefixes = dvc_data.PREFIXES
    keys = []  # soDangKy of record i, for the duplicates
    out = sys.stdout.buffer
    buf = []
    line_bytes = key_bytes = distinct = 0
    for i in range(n):
        if dup_every and i % dup_every == dup_every - 1:
            key = keys[rng.randrange(i)]  # a newer version of an earlier record
        else:
            key = "%s-%d-%02d" % (prefixes[i % len(prefixes)], 100000 + i, 15 + i % 11)
            distinct += 1
        keys.append(key)
        middle, tail = pool[i % POOL]
        buf.append('%s\t{"idThuoc":%d,"soDangKy":"%s",%s,"lastModificationTime":"%s",%s}\n'
                   % (key, 20000 + 3 * i, key, middle, times[i % TIMES], tail))
        key_bytes += len(key.encode("utf-8")) + 2  # plus the tab and the newline
        if len(buf) == 10000 or i == n - 1:
            chunk = "".join(buf).encode("utf-8")
            line_bytes += len(chunk)
            out.write(chunk)
            buf = []
    out.flush()
    if stats:
        with open(stats, "w", encoding="utf-8") as f:
            json.dump({"records": n, "keys": distinct, "value_bytes": line_bytes - key_bytes,
                       "line_bytes": line_bytes}, f)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
