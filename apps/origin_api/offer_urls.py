"""The borrower's pages behind an offer's offerUrl, mounted at /offer/ in prosperas/urls.py."""

from django.urls import path

from apps.origin_api import offer_views

app_name = "origin_offers"

urlpatterns = [
    path("<str:token>", offer_views.follow, name="follow"),
    path("<str:token>/details", offer_views.details, name="details"),
    path("<str:token>/lender", offer_views.handoff, name="handoff"),
    path("<str:token>/retry", offer_views.retry, name="retry"),
]
