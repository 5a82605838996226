import re
import uuid

import pytest

from apps.origins.services import tracking_id_mint
from tests.factories import OriginFactory

UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


@pytest.mark.django_db
def test_tracking_id_is_a_plain_uuid4_for_origins_without_prefix():
    origin = OriginFactory(prefix_tracking_ids=False)

    tracking_id = tracking_id_mint(origin=origin)

    assert re.fullmatch(UUID4, tracking_id)
    assert uuid.UUID(tracking_id).version == 4


@pytest.mark.django_db
def test_prefixed_tracking_id_is_origin_code_underscore_uuid4_with_exactly_one_underscore():
    origin = OriginFactory(code="movilco", prefix_tracking_ids=True)

    tracking_id = tracking_id_mint(origin=origin)

    assert re.fullmatch(rf"movilco_{UUID4}", tracking_id)
    assert tracking_id.count("_") == 1


@pytest.mark.django_db
def test_every_journey_gets_a_new_tracking_id():
    origin = OriginFactory()

    assert len({tracking_id_mint(origin=origin) for _ in range(200)}) == 200


@pytest.mark.parametrize("code", ["mov_ilco", "MovilCo", "a", "movil-co", "x" * 33])
def test_origin_codes_with_underscores_capitals_or_dashes_are_refused(code):
    from django.core.exceptions import ValidationError

    from apps.origins.models import Origin

    origin = Origin(code=code, name="X", kind=Origin.Kind.CARRIER)
    with pytest.raises(ValidationError) as error:
        origin.full_clean()
    assert "code" in error.value.message_dict
