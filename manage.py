#!/usr/bin/env python
import os
import sys


def _private_servers_needed() -> bool:
    """A development checkout (DEBUG, in the environment or its .env) with no DATABASE_URL or
    REDIS_URL: the command runs with the private PostgreSQL and Valkey of `make run`, as
    `make run` and `make test` do (prosperas/embedded.py). Never in production: DEBUG is off
    there, and settings then refuse to start without both URLs, saying so."""
    if os.environ.get("PROSPERAS_EMBEDDED_CHILD"):
        return False
    try:
        from prosperas import embedded
    except ImportError:  # the development packages are not installed: settings will say what is missing
        return False
    environ = embedded._environment()
    debug = environ.get("DEBUG", "").strip().lower() in ("1", "true", "yes", "on")
    return debug and not (environ.get("DATABASE_URL") and environ.get("REDIS_URL"))


def main() -> None:
    if _private_servers_needed():
        from prosperas import embedded

        os.environ["PROSPERAS_EMBEDDED_CHILD"] = "1"
        sys.exit(embedded.main(["run", "--", sys.executable, *sys.argv]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prosperas.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
