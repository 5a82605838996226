"""The site bench/postbacks.py serves: the platform as it is, plus one bare view to compare with.

Not part of the product: only the bench loads it (DJANGO_SETTINGS_MODULE=postbacks_site.settings
with bench/ on the path).
"""
