"""The patient site as an Android app: installable (Chromium's own installability check finds no
error), and publishable as a Trusted Web Activity: the repo's Bubblewrap manifest matches the web
manifest, and central serves the digital asset links the app's signature needs from its config."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from central.app import build
from central.config import from_dict
from infra.config import ConfigError
from tests.central.live import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[2]
FINGERPRINT = ":".join(["AB", "CD", "EF", "01"] * 8)
TWA = json.loads((ROOT / "android" / "twa-manifest.json").read_text())


def test_without_an_android_app_there_are_no_asset_links(client):
    assert client.get("/.well-known/assetlinks.json").status_code == 404


def test_the_asset_links_name_the_configured_app_and_its_signing_certificate(central_config):
    config = dataclasses.replace(central_config, android_package=TWA["packageId"], android_cert_sha256=[FINGERPRINT])
    app = build(config)
    try:
        answer = app.test_client().get("/.well-known/assetlinks.json")
        assert answer.status_code == 200 and answer.mimetype == "application/json"
        [statement] = answer.json
        assert statement["relation"] == ["delegate_permission/common.handle_all_urls"]
        assert statement["target"] == {
            "namespace": "android_app",
            "package_name": "id.go.bogorkab.rosma",
            "sha256_cert_fingerprints": [FINGERPRINT],
        }
    finally:
        app.extensions["rosma.db"].close()


@pytest.mark.parametrize(
    "settings, field",
    [
        ({"android_package": "rosma"}, "android_package"),
        ({"android_package": "id.rosma", "android_cert_sha256": ["ab:cd"]}, "android_cert_sha256"),
        ({"android_cert_sha256": [FINGERPRINT]}, "android_cert_sha256"),
    ],
)
def test_a_bad_android_setting_is_refused_naming_the_field(central_config, settings, field):
    data = {**dataclasses.asdict(central_config), **settings}
    with pytest.raises(ConfigError) as exc:
        from_dict(data)
    assert field in str(exc.value)


def test_the_bubblewrap_manifest_matches_the_web_manifest(client):
    web = client.get("/manifest.webmanifest").json
    assert TWA["launcherName"] == web["short_name"] and TWA["name"] == web["name"]
    assert TWA["themeColor"] == web["theme_color"] and TWA["backgroundColor"] == web["background_color"]
    assert TWA["startUrl"] == web["start_url"] and TWA["display"] == web["display"]
    assert TWA["orientation"] == web["orientation"]
    assert TWA["webManifestUrl"].endswith("/manifest.webmanifest") and TWA["webManifestUrl"].startswith("https://")
    for key in ("iconUrl", "maskableIconUrl"):
        path = TWA[key].split(TWA["host"], 1)[1]
        with client.get(path) as icon:
            assert icon.status_code == 200 and icon.mimetype == "image/png", key
    assert TWA["packageId"].count(".") >= 2 and TWA["signingKey"]["alias"]


def test_chromium_finds_the_patient_site_installable(site, tmp_path):
    """Chromium's own installability check (DevTools ``Page.getInstallabilityErrors``) in an
    ordinary profile (Playwright's usual contexts are incognito, where nothing is installable)."""
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is required for this test: {CHROMIUM} not found", pytrace=False)
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            viewport={"width": 390, "height": 844},
        )
        try:
            tab = context.new_page()
            tab.goto(site + "/")
            assert tab.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
            cdp = context.new_cdp_session(tab)
            errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
            assert errors == [], errors
            manifest = cdp.send("Page.getAppManifest")
            assert manifest["url"].endswith("/manifest.webmanifest") and not manifest.get("errors")
        finally:
            context.close()
