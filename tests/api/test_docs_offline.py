"""`/docs` and `/redoc` work with no network but this service (医保专网 are offline): every asset
the pages reference is served by us, and headless Chromium, with every other host unresolvable,
draws the operations of the spec."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from tests.api.conftest import Live

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_REFERENCE = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|url:\s*'([^']+)'""")


def references(html: str) -> list[str]:
    return [a or b for a, b in _REFERENCE.findall(html)]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_page_and_every_asset_come_from_this_service(live: Live, page: str) -> None:
    r = live.client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    refs = references(r.text)
    assert any(ref.endswith(".js") for ref in refs), refs
    assert "/openapi.json" in refs
    for ref in refs:
        url = urljoin(live.url + page, ref)
        assert urlsplit(url).netloc == urlsplit(live.url).netloc, f"{ref} is not ours"
        asset = live.client.get(url)
        assert asset.status_code == 200, (ref, asset.status_code)
        assert len(asset.content) > 100, ref
    # nothing else on the page loads from outside (no CDN, no Google fonts, no validator)
    assert not re.search(r"(?:src|href)\s*=\s*[\"']?(?:https?:)?//", r.text)
    assert "fonts.googleapis" not in r.text
    if page == "/docs":  # no outside validator; a typed API key is not kept in the browser
        assert '"validatorUrl": null' in r.text and '"persistAuthorization": false' in r.text


def test_docs_assets_are_the_scripts_the_pages_need(live: Live) -> None:
    js = live.client.get("/docs-assets/swagger-ui-bundle.js")
    assert js.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert "SwaggerUIBundle" in js.text
    assert "Redoc" in live.client.get("/docs-assets/redoc.standalone.js").text
    css = live.client.get("/docs-assets/swagger-ui.css")
    assert css.headers["content-type"].startswith("text/css") and ".swagger-ui" in css.text


def offline_dom(url: str, profile: Path) -> subprocess.CompletedProcess[str]:
    """Chromium with every host but this machine's loopback unresolvable."""
    assert CHROMIUM is not None
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--no-first-run", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
           "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
           "--virtual-time-budget=15000", "--dump-dom", url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian package chromium not installed "
                    "(`apt-get install -y chromium`; .ci/run does it)")
@pytest.mark.parametrize("page, drawn", [
    ("/docs", r'class="opblock opblock-post'),  # Swagger UI drew the operations
    ("/redoc", r'data-section-id="tag/per-case/operation/'),  # ReDoc drew the sections
])
def test_docs_page_renders_offline_in_a_browser(live: Live, tmp_path: Path, page: str,
                                                drawn: str) -> None:
    run = offline_dom(live.url + page, tmp_path / "profile")
    assert run.returncode == 0, run.stderr[-2000:]
    assert re.search(drawn, run.stdout), run.stdout[-3000:]
    assert "/v1/estimate" in run.stdout or "payment estimate of one case" in run.stdout
