"""Re-encrypt every credential under the newest key in FERNET_KEYS (see credentials.rotation)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from credentials.rotation import rotate_credentials


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored credential under the first (newest) key of FERNET_KEYS. "
        "Idempotent and resumable: values already under the newest key are left alone."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=1000, help="rows per transaction (default 1000)")

    def handle(self, *args, batch_size: int, verbosity: int = 1, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        keys = len(settings.FERNET_KEYS or [])
        self.stdout.write(f"Rotating credentials to the newest of {keys} configured key(s), {batch_size} rows a batch.")

        def progress(report):
            if verbosity >= 2:
                self.stdout.write(f"  … {report.scanned} rows scanned, {report.rotated} rotated")

        report = rotate_credentials(batch_size=batch_size, progress=progress)
        self.stdout.write(
            f"scanned {report.scanned}, rotated {report.rotated}, already current {report.current}, "
            f"failed {report.failed} ({report.batches} batches)"
        )
        if report.failed:
            shown = ", ".join(str(pk) for pk in report.failed_ids[:20])
            more = " …" if report.failed > 20 else ""
            raise CommandError(
                f"{report.failed} credential(s) could not be decrypted with any configured key "
                f"(ids {shown}{more}); they were left unchanged. Add the key they were encrypted with "
                "to FERNET_KEYS and run again, or have their owners save them again."
            )
        self.stdout.write(self.style.SUCCESS("All credentials are encrypted under the newest key."))
