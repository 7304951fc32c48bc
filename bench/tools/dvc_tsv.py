#!/usr/bin/env python3
"""The converter of the kcat reference pipeline of bench/loader.sh:

    kcat -C ... -f '%t\\t%p\\t%o\\t%s\\n' | dvc_tsv.py | psql -c '\\copy pharmaceutical_data_staging (...) from stdin'

Reads "topic<TAB>partition<TAB>offset<TAB>record" lines (a record is one flat JSON object of
the drug registry, as dvc_crawl --format record sends it) and writes COPY text rows: the 29
fields in the staging table's order, then source_topic, source_partition, source_offset.
What a quick script does, no more: json.loads, None -> \\N, text escaped for COPY, numbers as
Python prints them, timestamps passed through for PostgreSQL to parse. No validation and no
dead letters: one bad record fails the whole COPY.
"""

import json
import sys

FIELDS = ["idThuoc", "soDangKy", "soDangKyCu", "tenThuoc", "phanLoaiThuocEnum",
          "congTyDangKyId", "congTySanXuatId", "creationTime", "lastModificationTime",
          "tenCongTyDangKy", "diaChiDangKy", "nuocDangKy", "tenCongTySanXuat", "diaChiSanXuat",
          "nuocSanXuat", "fullAddress", "dotCap", "ngayCapSoDangKy", "ngayHetHanSoDangKy",
          "ngayGiaHanSoDangKy", "soQuyetDinh", "thongTinRutSoDangKy", "dangBaoChe", "dongGoi",
          "hamLuong", "hoatChatChinh", "tieuChuan", "tieuChuanId", "tuoiTho"]


def cell(v):
    if v is None:
        return "\\N"
    if isinstance(v, str):
        if "\\" in v or "\t" in v or "\n" in v or "\r" in v:
            v = v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def main():
    out = sys.stdout
    loads = json.loads
    rows = []
    for line in sys.stdin:
        topic, part, off, value = line.rstrip("\n").split("\t", 3)
        rec = loads(value)
        rows.append("\t".join([cell(rec.get(f)) for f in FIELDS] + [topic, part, off]))
        if len(rows) == 5000:
            out.write("\n".join(rows) + "\n")
            rows = []
    if rows:
        out.write("\n".join(rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
