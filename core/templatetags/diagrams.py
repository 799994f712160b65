from functools import cache

from django import template
from django.utils.safestring import SafeString

from core import erd

register = template.Library()


@cache
def _blog() -> SafeString:
    return erd.svg(erd.blog_entities(), "The demo blog's models and how they relate")


@register.simple_tag
def blog_diagram() -> SafeString:
    """The demo blog's models as an entity-relationship diagram (the same for every page: drawn once)."""
    return _blog()
