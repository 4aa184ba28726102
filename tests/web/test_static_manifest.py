"""Production static files: hashed names, module imports rewritten, compressed, cached a year."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "core.staticfiles.StaticStorage"},
}
HASHED = re.compile(r"\.[0-9a-f]{12}\.(?:js|css)$")
RELATIVE_IMPORT = re.compile(r"""(?:from\s*|import\s*\(?\s*)["'](\.{1,2}/[^"']+)["']""")


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    root = tmp_path_factory.mktemp("static")
    with override_settings(STATIC_ROOT=root, STORAGES=STORAGES, WHITENOISE_USE_FINDERS=False):
        call_command("collectstatic", interactive=False, verbosity=0)
        from django.contrib.staticfiles.storage import staticfiles_storage

        staticfiles_storage._setup()  # the storage object is cached per settings; re-read the manifest
        yield root, staticfiles_storage


def test_the_web_app_is_collected_under_hashed_names_with_compressed_copies(collected):
    root, storage = collected
    app = storage.stored_name("web/app.js")

    assert HASHED.search(app), app
    assert (root / app).is_file()
    assert (root / f"{app}.gz").is_file()
    assert HASHED.search(storage.stored_name("web/app.css"))


def test_every_module_import_points_at_a_hashed_file_that_exists(collected):
    root, storage = collected
    modules = [
        root / storage.stored_name(str(path.relative_to(root)).replace("\\", "/"))
        for path in (root / "web").rglob("*.js")
        if not HASHED.search(path.name)
    ]
    assert len(modules) >= 5

    seen = 0
    for module in modules:
        for target in RELATIVE_IMPORT.findall(module.read_text()):
            resolved = (module.parent / target).resolve()
            assert HASHED.search(target), f"{module.name} imports {target} by its unhashed name"
            assert resolved.is_file(), f"{module.name} imports {target}, which was not collected"
            seen += 1
    assert seen >= 5  # the app's pages are loaded by dynamic import, the helpers statically


def test_the_shell_names_the_hashed_files(collected, client):
    root, storage = collected
    with override_settings(STATIC_ROOT=root, STORAGES=STORAGES, WHITENOISE_USE_FINDERS=False):
        body = client.get("/").content.decode()

    assert storage.stored_name("web/app.js") in body
    assert storage.stored_name("web/app.css") in body


def test_whitenoise_serves_a_hashed_file_compressed_and_immutable(collected):
    root, storage = collected
    with override_settings(STATIC_ROOT=root, STORAGES=STORAGES, WHITENOISE_USE_FINDERS=False, DEBUG=False):
        from whitenoise.middleware import WhiteNoiseMiddleware

        middleware = WhiteNoiseMiddleware(lambda request: HttpResponse(status=404))
        request = RequestFactory().get(f"/static/{storage.stored_name('web/app.js')}", HTTP_ACCEPT_ENCODING="gzip")
        response = middleware(request)

    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert "immutable" in response["Cache-Control"]
    assert "max-age=315360000" in response["Cache-Control"]
    response.file_to_stream.close()  # not response.close(): that signals request_finished
