"""django-auditlog's middleware, where a request can change what the audit log keeps."""

from __future__ import annotations

from auditlog.middleware import AuditlogMiddleware

from apps.postbacks import contract


class StaffAuditlogMiddleware(AuditlogMiddleware):
    """Ties each audited change to the user and address behind it (apps/backoffice/audit.py),
    except on the lenders' postbacks (and their tester), which change no audited row (they write
    the journey's own rows) and come by the hundred a second. There the context would cost a signal
    receiver connected and disconnected per request (a global lock, the signal's cache cleared each
    time): the largest share of a postback's time in middleware."""

    skipped_path = contract.PATH  # the tester's path starts with it

    def __call__(self, request):
        if request.path_info.startswith(self.skipped_path):
            return self.get_response(request)
        return super().__call__(request)
