"""National holidays (hari libur nasional) and cuti bersama of 2026, as the puskesmas close.

Source: Surat Keputusan Bersama Menteri Agama, Menteri Ketenagakerjaan, dan Menteri
Pendayagunaan Aparatur Negara dan Reformasi Birokrasi Nomor 1497 Tahun 2025, Nomor 2 Tahun 2025,
Nomor 5 Tahun 2025 tentang Hari Libur Nasional dan Cuti Bersama Tahun 2026 (signed 19 September
2025): 17 hari libur nasional and 8 hari cuti bersama.

Plain data (no imports from the app): migration 5 copies these rows into the ``holiday`` table
(every puskesmas: ``puskesmas`` NULL) and the back office edits them from then on. A national
holiday that falls on a Sunday is listed too (the decree lists it; a puskesmas is closed anyway).
"""

from __future__ import annotations

# (ISO date, name, kind): kind "libur" is a hari libur nasional, "cuti" a cuti bersama
HOLIDAYS_2026: tuple[tuple[str, str, str], ...] = (
    ("2026-01-01", "Tahun Baru 2026 Masehi", "libur"),
    ("2026-01-16", "Isra Mikraj Nabi Muhammad S.A.W.", "libur"),
    ("2026-02-16", "Cuti bersama Tahun Baru Imlek 2577 Kongzili", "cuti"),
    ("2026-02-17", "Tahun Baru Imlek 2577 Kongzili", "libur"),
    ("2026-03-18", "Cuti bersama Hari Suci Nyepi (Tahun Baru Saka 1948)", "cuti"),
    ("2026-03-19", "Hari Suci Nyepi (Tahun Baru Saka 1948)", "libur"),
    ("2026-03-20", "Cuti bersama Idulfitri 1447 Hijriah", "cuti"),
    ("2026-03-21", "Idulfitri 1447 Hijriah", "libur"),
    ("2026-03-22", "Idulfitri 1447 Hijriah", "libur"),
    ("2026-03-23", "Cuti bersama Idulfitri 1447 Hijriah", "cuti"),
    ("2026-03-24", "Cuti bersama Idulfitri 1447 Hijriah", "cuti"),
    ("2026-04-03", "Wafat Yesus Kristus", "libur"),
    ("2026-04-05", "Kebangkitan Yesus Kristus (Paskah)", "libur"),
    ("2026-05-01", "Hari Buruh Internasional", "libur"),
    ("2026-05-14", "Kenaikan Yesus Kristus", "libur"),
    ("2026-05-15", "Cuti bersama Kenaikan Yesus Kristus", "cuti"),
    ("2026-05-27", "Iduladha 1447 Hijriah", "libur"),
    ("2026-05-28", "Cuti bersama Iduladha 1447 Hijriah", "cuti"),
    ("2026-05-31", "Hari Raya Waisak 2570 BE", "libur"),
    ("2026-06-01", "Hari Lahir Pancasila", "libur"),
    ("2026-06-16", "1 Muharam Tahun Baru Islam 1448 Hijriah", "libur"),
    ("2026-08-17", "Proklamasi Kemerdekaan Republik Indonesia", "libur"),
    ("2026-08-25", "Maulid Nabi Muhammad S.A.W.", "libur"),
    ("2026-12-24", "Cuti bersama Kelahiran Yesus Kristus", "cuti"),
    ("2026-12-25", "Kelahiran Yesus Kristus", "libur"),
)
