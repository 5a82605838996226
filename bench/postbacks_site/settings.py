"""The platform's own settings, with a URL configuration that adds the bench's bare view."""

from prosperas.settings import *  # noqa: F403 - the very same site, one URL more

ROOT_URLCONF = "postbacks_site.urls"
