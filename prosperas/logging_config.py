"""The LOGGING setting (dictConfig): one console handler, its lines carrying the request id and
the journey (prosperas/logcontext.py), as JSON in production or readable text in the demo."""


def logging_config(*, level: str, line_format: str) -> dict:
    """`line_format`: "json" or "plain" (settings.LOG_FORMAT)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(lead_id)s] %(message)s"},
            "json": {
                "()": "prosperas.logcontext.JsonFormatter",
                "fmt": ["asctime", "levelname", "name", "message", "request_id", "lead_id", "tracking_id"],
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            },
        },
        "filters": {
            "quiet_follow_ups": {"()": "prosperas.logging_filters.QuietFollowUps"},
            "context": {"()": "prosperas.logcontext.LogContextFilter"},
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": line_format,
                                 "filters": ["quiet_follow_ups", "context"]}},
        "root": {"handlers": ["console"], "level": level},
        # axes announces itself at INFO in every process (web, workers, commands): only its warnings.
        "loggers": {"django.db.backends": {"level": "INFO"}, "axes": {"level": "WARNING"}},
    }
