"""Re-encrypt every encrypted column under the first key of FIELD_ENCRYPTION_KEYS.

    manage.py rotate_encryption_keys [--batch-size 500] [--from-start] [--list]

Safe while the platform serves traffic, resumable and idempotent (prosperas/key_rotation.py).
A rotation, step by step (README, "Data life cycle"): put the new key first in
FIELD_ENCRYPTION_KEYS everywhere and restart, run this command until it reports nothing left,
then remove the old key.
"""

import time

from django.core.management.base import BaseCommand, CommandError

from prosperas import key_rotation


class ProgressLine:
    """One line on stderr per column, redrawn in place on a terminal, printed every few seconds
    otherwise (a log collector gets lines, not carriage returns)."""

    def __init__(self, stream, *, interval: float = 5.0) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.interval = interval
        self.last = 0.0

    def __call__(self, progress: key_rotation.ColumnProgress) -> None:
        now = time.monotonic()
        done = progress.fraction >= 1.0
        if not (self.tty or done or now - self.last >= self.interval):
            return
        self.last = now
        width = 24
        filled = int(progress.fraction * width)
        line = (f"{progress.column.label:<44} [{'#' * filled}{'.' * (width - filled)}] {progress.fraction:6.1%} "
                f"rotated {progress.rotated}, already current {progress.already_current}")
        self.stream.write(("\r" if self.tty else "") + line + ("\n" if done or not self.tty else ""), ending="")
        self.stream.flush()


class Command(BaseCommand):
    help = "Re-encrypt every encrypted column under the first key of FIELD_ENCRYPTION_KEYS (online, resumable)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, help="Rows read and written per statement.")
        parser.add_argument("--from-start", action="store_true",
                            help="Ignore the saved progress and read every row again (rows already "
                                 "under the first key are only checked, not written).")
        parser.add_argument("--list", action="store_true", help="Only list the encrypted columns found.")

    def handle(self, *args, **options):
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        columns = key_rotation.encrypted_columns()
        if options["list"]:
            for column in columns:
                self.stdout.write(f"{column.label} ({column.table}.{column.field.column})")
            return
        unreadable = {}
        totals = {"rotated": 0, "already_current": 0, "changed_meanwhile": 0}
        on_progress = ProgressLine(self.stderr)
        for progress in key_rotation.keys_rotate(batch_size=options["batch_size"], from_start=options["from_start"],
                                                 on_progress=on_progress):
            for name in totals:
                totals[name] += getattr(progress, name)
            if progress.unreadable:
                unreadable[progress.column.label] = progress.unreadable
        self.stdout.write(
            f"{len(columns)} encrypted columns: {totals['rotated']} values re-encrypted under the first key, "
            f"{totals['already_current']} already under it, {totals['changed_meanwhile']} changed by the platform "
            f"while being rotated (read again)."
        )
        if unreadable:
            detail = "; ".join(f"{label}: primary keys {pks[:20]}" for label, pks in unreadable.items())
            raise CommandError(f"Values no configured key decrypts (left as they are): {detail}")
