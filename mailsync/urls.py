from django.urls import path

from mailsync.views import mailbox as views
from mailsync.views import oauth as views_oauth
from mailsync.views import people as views_people

app_name = "mailsync"

urlpatterns = [
    path("", views.mailbox, name="mailbox"),
    path("preset/", views.mailbox_preset, name="mailbox_preset"),
    path("connect/", views.mailbox_connect, name="mailbox_connect"),
    path("connect/<str:provider>/", views_oauth.oauth_connect, name="oauth_connect"),
    path("test/", views.mailbox_test, name="mailbox_test"),
    path("sync/", views.mailbox_sync_now, name="mailbox_sync_now"),
    path("disconnect/", views.mailbox_disconnect, name="mailbox_disconnect"),
    path("skipped/", views.mailbox_skipped, name="mailbox_skipped"),
    path("skipped/<int:pk>/import/", views.mailbox_skipped_import, name="mailbox_skipped_import"),
    path("sharing/", views.mailbox_sharing, name="mailbox_sharing"),
    path("bcc/rotate/", views.bcc_rotate, name="bcc_rotate"),
]

# The people in the rep's mail: candidates to add, addresses and domains to block.
urlpatterns += [
    path("candidates/", views_people.candidates_list, name="candidates"),
    path("candidates/add/", views_people.candidate_add, name="candidate_add"),
    path("blocked/", views_people.blocklist, name="blocklist"),
    path("blocked/<int:pk>/remove/", views_people.block_remove, name="block_remove"),
]
