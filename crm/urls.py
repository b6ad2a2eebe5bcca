from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("crm.web_urls")),
    path("mailbox/", include("mailsync.urls")),
    path("mail/", include("mailsync.urls_mail")),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("anymail/", include("anymail.urls")),
    path("admin/", admin.site.urls),
]

handler404 = "crm.views.page_not_found"

# MEDIA_ROOT is never served, not even with DEBUG on: it holds mail attachments, which only the
# access-checked download view (mailsync.views_mail.attachment_download) hands out, as
# downloads. Served from MEDIA_URL, anyone could fetch them, and an HTML attachment would run
# its script on the CRM's origin.
