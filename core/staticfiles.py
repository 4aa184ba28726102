"""Static files for production: content-hashed names, compressed copies, cached for a year.

``STATIC_MANIFEST=1`` (after ``manage.py collectstatic``) switches to this storage:
WhiteNoise then serves each file under a name that carries its hash, with
``Cache-Control: immutable`` and a gzip (and Brotli, when installed) copy made at collect
time. The web app is ES modules that import each other by relative path, so the module
imports (static and dynamic) are rewritten to the hashed names too; without that a
browser would load a stale module under a long cache.
"""

from __future__ import annotations

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticStorage(CompressedManifestStaticFilesStorage):
    support_js_module_import_aggregation = True
