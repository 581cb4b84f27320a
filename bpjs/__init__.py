"""BPJS Kesehatan web services: PCare peserta (membership) and Antrean FKTP (queue reports).

- ``config.BpjsConfig``: one puskesmas's credentials, service addresses and time-outs.
- ``pcare.PcareClient``: membership by card number or NIK (active, inactive, other FKTP, unknown).
- ``antrean.AntreanClient``: reference poli and doctors; report add, panggil and batal.
- ``errors``: the BpjsError family, with messages in Bahasa Indonesia.
- ``crypto`` and ``lzstring``: signatures and response decryption; ``transport``: signed HTTP.
- ``fake.FakeBpjs`` (``rosma fake-bpjs``): a fake service speaking the same protocol.

The wire protocol is described in docs/bpjs.md. This package imports nothing from central or edge:
both use it (central at reservation and for Antrean reports, the edge at the kiosk).
"""
