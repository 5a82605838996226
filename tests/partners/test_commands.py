"""manage.py partner_invite: the command-line twin of the admin's invitation."""

from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from apps.partners.models import PartnerInvitation


@pytest.mark.django_db(transaction=True)
def test_partner_invite_emails_and_prints_a_link_that_opens(environments, client, capsys):
    staging, production = environments
    call_command("partner_invite", "dev@acme.example", staging.code, production.code)
    out = capsys.readouterr().out
    link = out.split("): ")[1].strip()
    assert link in mail.outbox[0].body and mail.outbox[0].to == ["dev@acme.example"]
    assert set(PartnerInvitation.objects.get().lenders.all()) == {staging, production}
    assert client.get(urlsplit(link).path).status_code == 200


@pytest.mark.django_db
def test_partner_invite_refuses_an_unknown_lender_or_a_bad_email(environments):
    with pytest.raises(CommandError, match="no-such-lender"):
        call_command("partner_invite", "dev@acme.example", "no-such-lender")
    with pytest.raises(CommandError, match="not an email"):
        call_command("partner_invite", "not-an-email", environments[0].code)
    assert not PartnerInvitation.objects.exists()
