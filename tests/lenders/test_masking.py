import json

from apps.lenders.adapters.base import Consumer
from apps.lenders.masking import (
    Amount,
    is_personal_key,
    mask_and_truncate,
    mask_json,
    mask_text,
    mask_value,
    mask_values,
    truncate,
)

NAME = "José María Pérez"
DOCUMENT = "1020304050"


def test_a_masked_value_keeps_only_its_last_two_characters():
    assert mask_value("1020304050") == "••••••••50"
    assert mask_value("abcd") == "••••"


def test_personal_keys_are_recognised_in_any_spelling_but_kinds_are_not():
    for key in ("documentNumber", "document_number", "fullName", "full-name", "email", "phone", "mobilePhone",
                "nombreCompleto", "address", "birthDate", "firstName", "monthlyIncome", "annual_income",
                "ingresoMensual", "income", "salario"):
        assert is_personal_key(key), key
    for key in ("documentType", "trackingId", "incomeType", "currency", "offerId", "decision", "productId"):
        assert not is_personal_key(key), key


def test_json_is_masked_by_key_at_any_depth():
    masked = mask_json({"consumer": {"documentNumber": DOCUMENT, "fullName": NAME, "documentType": "CC",
                                     "contacts": [{"email": "a@b.co"}], "address": {"line1": "Calle 1 # 2-3"}}})
    assert masked["consumer"]["documentNumber"] == "••••••••50"
    assert masked["consumer"]["documentType"] == "CC"
    assert masked["consumer"]["contacts"][0]["email"] == "••••co"
    assert masked["consumer"]["address"]["line1"].endswith("-3") and "Calle" not in masked["consumer"]["address"]["line1"]


def test_values_are_masked_wherever_they_appear_in_any_spelling():
    echoed = json.dumps({"errors": [{"field": "x", "message": f"{NAME.upper()} with document {DOCUMENT} is blocked"}]})
    masked = mask_text(echoed, [NAME, DOCUMENT])
    assert DOCUMENT not in masked and "JOS" not in masked and "\\u00c9" not in masked
    assert "P\\u00e9rez" not in mask_text(json.dumps({"note": NAME}), [NAME])  # ensure_ascii spelling
    assert "Jos%C3%A9" not in mask_text("full_name=Jos%C3%A9%20Mar%C3%ADa%20P%C3%A9rez", [NAME])


def test_non_json_text_is_masked_by_value():
    assert mask_text(f"<html>{DOCUMENT}</html>", [DOCUMENT]) == "<html>••••••••50</html>"


def test_short_values_are_left_to_the_key_net():
    assert mask_text('{"annualRate":0.28,"x":"Al"}', ["Al"]) == '{"annualRate":0.28,"x":"Al"}'


def test_truncation_happens_after_masking_so_no_half_value_survives():
    body = "x" * 95 + DOCUMENT
    stored = mask_and_truncate(body, [DOCUMENT], 100)
    assert "10203" not in stored and stored.startswith("x" * 95 + "•••••")
    assert stored.endswith("…[truncated 5 characters]")


def test_short_text_is_not_truncated():
    assert truncate("abc", 10) == "abc"


def test_income_is_masked_under_every_style_of_key_at_any_depth():
    masked = mask_json({"consumer": {"monthlyIncome": 3200000}, "employment_info": {"annual_income": 38400000},
                        "borrower": {"income": {"annual": 38400000, "currency": "COP"}},
                        "cliente": {"ingresoMensual": 3200000}})
    assert masked["consumer"]["monthlyIncome"] == "•••••00"
    assert masked["employment_info"]["annual_income"] == "••••••00"
    assert masked["borrower"]["income"] == {"annual": "••••••00", "currency": "•••"}
    assert masked["cliente"]["ingresoMensual"] == "•••••00"


def test_an_income_under_a_key_that_does_not_say_so_is_masked_by_its_value():
    """A staff-mapped API may name the field anything: the consumer's own income is still found."""
    values = Consumer(document_type="CC", document_number=DOCUMENT, full_name=NAME, monthly_income=3_000_000)
    body = '{"campo7":3000000,"anual":"36000000.00","nota":"ingreso 3.000.000 bajo","x":"3,000,000"}'
    masked = mask_text(body, values.personal_values())
    assert "3000000" not in masked and "36000000" not in masked and "3.000.000" not in masked
    assert "3,000,000" not in masked


def test_an_income_is_masked_as_a_whole_number_only_never_inside_another_amount():
    offers = '{"amount":30000000,"ref":"A13000000","fee":"3,000,000.50","total":"13,000,000","term":3000000}'
    masked = mask_values(offers, [Amount("3000000")])
    assert '"amount":30000000' in masked and "A13000000" in masked and '"13,000,000"' in masked
    assert '"fee":"•••••••00.50"' in masked and '"term":"' not in masked and '"term":•••••00' in masked
