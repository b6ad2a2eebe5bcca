from django.urls import path

from mailsync import views

app_name = "mailsync"

urlpatterns = [
    path("", views.mailbox, name="mailbox"),
    path("preset/", views.mailbox_preset, name="mailbox_preset"),
    path("connect/", views.mailbox_connect, name="mailbox_connect"),
    path("test/", views.mailbox_test, name="mailbox_test"),
    path("sync/", views.mailbox_sync_now, name="mailbox_sync_now"),
    path("disconnect/", views.mailbox_disconnect, name="mailbox_disconnect"),
    path("skipped/", views.mailbox_skipped, name="mailbox_skipped"),
]
