"""Production settings pass Django's deployment checks with no warning."""

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent


def test_check_deploy_with_production_settings_finds_no_issue(tmp_path):
    environment = {
        **{name: value for name, value in os.environ.items() if name not in ("PYTEST_VERSION", "CI", "DJANGO_ALLOW_ASYNC_UNSAFE")},
        "DEBUG": "false", "PROSPERAS_TESTING": "false", "SECRET_KEY": Fernet.generate_key().decode() * 2,
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(), "ALLOWED_HOSTS": "prosperas.example",
        "SANDBOX_ENABLED": "false", "METRICS_TOKEN": Fernet.generate_key().decode(),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT,
                            env=environment, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
