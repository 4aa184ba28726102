class CacheDatabaseRouter:
    """Keeps Django's database cache in its own SQLite file (embedded mode only).

    SQLite admits one writer at a time; throttle counters written on every request
    would otherwise queue behind trades and events on the main database.
    """

    cache_label = "django_cache"

    def db_for_read(self, model, **hints):
        return "cache" if model._meta.app_label == self.cache_label else None

    db_for_write = db_for_read

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if app_label == self.cache_label:
            return db == "cache"
        return db == "default"
