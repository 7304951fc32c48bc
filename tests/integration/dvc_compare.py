#!/usr/bin/env python3
"""Compare pharmaceutical_data rows (one JSON object per line, as row_to_json prints them)
with the fixture portal's dataset flattened the way the original pipeline did (29 fields).
Prints one line per difference (at most 20) and nothing when everything matches.

usage: dvc_compare.py DATASET.json ROWS.jsonl
Timestamps are compared as instants to the microsecond (PostgreSQL rounds the source's 7th
fractional digit); everything else must be equal as text or number."""
import json
import re
import sys
from datetime import datetime, timezone


def instant(text):
    """An ISO-8601 text with 0-7 fractional digits and an offset -> microseconds since epoch."""
    if text is None:
        return None
    m = re.match(r"^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d(?::?\d\d)?)?$", text)
    if not m:
        return ("unparseable", text)
    frac = (m.group(3) or "0")
    micros = round(int(frac) * 10 ** (6 - len(frac))) if len(frac) <= 6 else round(int(frac) / 10 ** (len(frac) - 6))
    off = m.group(4) or "+00:00"
    if off == "Z":
        off = "+00:00"
    if len(off) == 3:
        off += ":00"
    if ":" not in off:
        off = off[:3] + ":" + off[3:]
    base = datetime.fromisoformat(m.group(1) + "T" + m.group(2) + off)
    return int(base.timestamp()) * 1_000_000 + micros


def flat(item):
    dk = item.get("congTyDangKy") or {}
    sx = item.get("congTySanXuat") or {}
    tt = item.get("thongTinDangKyThuoc") or {}
    rut = item.get("thongTinRutSoDangKy") or {}
    cb = item.get("thongTinThuocCoBan") or {}
    addr, country = sx.get("diaChiSanXuat"), sx.get("nuocSanXuat")
    if addr is None:
        full = None if country is None else None
    elif country and country not in addr:
        full = addr + ", " + country
    else:
        full = addr
    return {
        "idthuoc": item.get("id"), "sodangky": item.get("soDangKy"),
        "sodangkycu": item.get("soDangKyCu"), "tenthuoc": item.get("tenThuoc"),
        "phanloaithuocenum": item.get("phanLoaiThuocEnum"),
        "congtydangkyid": item.get("congTyDangKyId"), "congtysanxuatid": item.get("congTySanXuatId"),
        "creationtime": ("ts", item.get("creationTime")),
        "lastmodificationtime": ("ts", item.get("lastModificationTime")),
        "tencongtydangky": dk.get("tenCongTyDangKy"), "diachidangky": dk.get("diaChiDangKy"),
        "nuocdangky": dk.get("nuocDangKy"), "tencongtysanxuat": sx.get("tenCongTySanXuat"),
        "diachisanxuat": addr, "nuocsanxuat": country, "fulladdress": full,
        "dotcap": tt.get("dotCap"), "ngaycapsodangky": ("ts", tt.get("ngayCapSoDangKy")),
        "ngayhethansodangky": ("ts", tt.get("ngayHetHanSoDangKy")),
        "ngaygiahansodangky": ("ts", tt.get("ngayGiaHanSoDangKy")),
        "soquyetdinh": tt.get("soQuyetDinh"), "thongtinrutsodangky": rut.get("urlCongVanRutSoDangKy"),
        "dangbaoche": cb.get("dangBaoChe"), "donggoi": cb.get("dongGoi"), "hamluong": cb.get("hamLuong"),
        "hoatchatchinh": cb.get("hoatChatChinh"), "tieuchuan": cb.get("tieuChuan"),
        "tieuchuanid": cb.get("tieuChuanId"), "tuoitho": cb.get("tuoiTho"),
    }


def main():
    data = json.load(open(sys.argv[1], encoding="utf-8"))
    items = data["items"] if isinstance(data, dict) and "items" in data else data
    rows = {}
    for line in open(sys.argv[2], encoding="utf-8"):
        if line.strip():
            r = json.loads(line)
            rows[r["sodangky"]] = r
    out = []
    if len(rows) != len(items):
        out.append("row count %d != source count %d" % (len(rows), len(items)))
    for item in items:
        want = flat(item)
        got = rows.get(want["sodangky"])
        if got is None:
            out.append("missing %s" % want["sodangky"])
            continue
        for col, w in want.items():
            g = got.get(col)
            if isinstance(w, tuple):
                if instant(w[1]) != instant(g) and (instant(w[1]) is None or instant(g) is None or abs(instant(w[1]) - instant(g)) > 1):
                    out.append("%s.%s: source %r, table %r" % (want["sodangky"], col, w[1], g))
            elif (w if not isinstance(w, (int, float)) else str(w)) != (g if not isinstance(g, (int, float)) else str(g)):
                out.append("%s.%s: source %r, table %r" % (want["sodangky"], col, w, g))
    print("\n".join(out[:20]))


main()
