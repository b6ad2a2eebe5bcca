"""What every page's top bar needs from the mail integration."""

from django.conf import settings
from django.utils.functional import SimpleLazyObject

from mailsync.selectors.deal_queue import deal_choices_waiting_count


def deals_to_choose(request) -> dict:
    """`deals_to_choose_count`: the threads waiting for the signed-in rep to choose a deal.

    Lazy, so that only a page that shows the top bar pays its one query.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "deals_to_choose_count": SimpleLazyObject(lambda: deal_choices_waiting_count(user=user))
    }


def social_sign_in(request) -> dict:
    """`social_sign_in_enabled`: whether the sign-in page offers Google and Microsoft."""
    return {"social_sign_in_enabled": settings.SOCIALACCOUNT_LOGIN_ENABLED}
