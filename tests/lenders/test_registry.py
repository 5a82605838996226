"""The adapter registry is the one list of lender API styles: a style added by one registry line
(its adapter and sandbox modules written) is picked up by the model's choices, the admin, the
factories, the sandbox's URLs, the demo data and the shared adapter contract tests."""

import types

import pytest
from django.core.management import call_command
from django.urls import URLResolver, include, path

import tests.lenders.test_adapter_contract as contract
import tests.lenders.test_circuit as circuit
from apps.lenders.adapters import ADAPTERS, adapter_choices, adapter_class
from apps.lenders.models import Lender
from apps.sandbox import urls as sandbox_urls
from apps.sandbox.styles import sandbox_style, sandbox_styles, sandbox_urlpatterns
from prosperas import urls as project_urls
from tests.factories import LenderFactory, ProductFactory, styled_sandbox_lender
from tests.conftest import Sandbox
from tests.lenders.conftest import STYLES
from tests.lenders.toy_style import ToyAdapter


def test_each_registry_line_names_a_class_of_that_key_with_a_label_and_a_sandbox():
    for key in ADAPTERS:
        cls = adapter_class(key)
        assert cls.key == key and cls.label
        assert sandbox_style(key).key == key
    assert set(STYLES) == set(ADAPTERS)  # the contract tests run over every registered style


def test_the_model_choices_are_the_registry_with_each_class_label():
    assert list(Lender._meta.get_field("adapter").choices) == adapter_choices()
    assert [key for key, _ in adapter_choices()] == list(ADAPTERS)


@pytest.fixture
def toy_style(monkeypatch, settings):
    """The toy style registered by its one line, and the project's URL conf built again after it
    (the sandbox's URLs are built from the registry when the URL conf is loaded)."""
    monkeypatch.setitem(ADAPTERS, ToyAdapter.key, "tests.lenders.toy_style.ToyAdapter")
    sandbox_styles.cache_clear()
    sandbox = types.ModuleType("toy_sandbox_urls")
    sandbox.app_name = "sandbox"
    portal = [pattern for pattern in sandbox_urls.urlpatterns if not isinstance(pattern, URLResolver)]
    sandbox.urlpatterns = [*sandbox_urlpatterns(), *portal]
    urlconf = types.ModuleType("toy_urls")
    urlconf.urlpatterns = [
        path("sandbox/", include(sandbox)),
        *[pattern for pattern in project_urls.urlpatterns if str(pattern.pattern) != "sandbox/"],
    ]
    settings.ROOT_URLCONF = urlconf
    yield ToyAdapter.key
    sandbox_styles.cache_clear()


def test_a_new_style_is_a_choice_of_the_model_and_of_the_admin_with_its_credentials(toy_style, admin_client):
    assert (toy_style, ToyAdapter.label) in list(Lender._meta.get_field("adapter").choices)
    LenderFactory.build(adapter=toy_style).full_clean(exclude=["postback_key", "code"])

    page = admin_client.get("/admin/lenders/lender/add/").content.decode()
    assert f'value="{toy_style}"' in page and ToyAdapter.label in page
    assert 'name="credential__toy_token"' in page


def test_a_new_style_gets_sandbox_lenders_from_the_factories_and_a_demo_lender(toy_style, db):
    lender = styled_sandbox_lender(style=toy_style, server_url="http://testserver")
    assert lender.base_url == f"http://testserver/sandbox/toy/{lender.code}"
    assert set(lender.credentials) == {"toy_token"}

    call_command("seed_demo", site_url="http://127.0.0.1:8123", admin_password="demo-pass-123")
    demo = Lender.objects.get(adapter=toy_style, code="toy-bank")
    assert demo.base_url == "http://127.0.0.1:8123/sandbox/toy/toy-bank"


def test_the_contract_tests_run_a_new_style_against_its_sandbox_over_http(toy_style, live_server, transactional_db,
                                                                          broker_isolation, settings):
    def sandbox_of(style, **fields):
        lender = styled_sandbox_lender(style=style, server_url=live_server.url, **fields)
        return Sandbox(lender=lender, product=ProductFactory(lender=lender))

    contract.test_an_approval_stores_offers_and_shows_them(sandbox_of, toy_style)
    contract.test_a_rejection_is_not_eligible_with_a_categorized_reason(sandbox_of, toy_style)
    contract.test_data_the_lender_refuses_is_a_permanent_failure_showing_its_field_messages(
        sandbox_of, toy_style, sandbox_style(toy_style).contract.refused_field)
    for kind in contract.TECHNICAL_FAILURES:
        contract.test_each_technical_failure_is_retried_then_offers_try_again(sandbox_of, settings, toy_style, kind)
    contract.test_every_call_carries_the_idempotency_key_and_a_retry_is_the_identical_request(sandbox_of, toy_style)
    circuit.test_every_styles_sandbox_answers_the_probe_and_keeps_nothing(sandbox_of, settings, toy_style)
    circuit.test_every_styles_sandbox_fails_the_probe_while_its_decisions_fail(sandbox_of, settings, toy_style)


def test_a_style_s_own_configuration_is_found_through_its_adapter_s_options_model(db):
    mapped = styled_sandbox_lender(style="mapped_json", server_url="http://testserver")
    embedded = styled_sandbox_lender(style="embedded", server_url="http://testserver")
    assert adapter_class("mapped_json").options_model == "lenders.MappedApi"
    assert mapped.adapter_options() == mapped.mapped_api.as_options() and mapped.adapter_options()["prequalify_path"]
    assert embedded.adapter_options() == {}
